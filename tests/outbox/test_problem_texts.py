"""Every problem code has its plain words in Swedish and English (gateway.problem_texts), the one
table the e-mails and the console read."""

from __future__ import annotations

import re
import string
from pathlib import Path

from gateway import problem_texts
from gateway.intake import holding_problems
from protocols.marc import problems

ROOT = Path(__file__).resolve().parents[2]


def every_code() -> set[str]:
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (ROOT / "docs" / "marc-problems.md").read_text(), re.M))
    documented |= set(re.findall(r"^\| `(HOLDING_[A-Z_]+)` \|", (ROOT / "docs" / "intake.md").read_text(), re.M))
    return set(problems.CODES) | set(holding_problems.CODES) | documented


def test_every_problem_code_has_a_swedish_and_an_english_text() -> None:
    codes = every_code()
    assert len(codes) > 50
    missing = sorted(code for code in codes
                     if not all(problem_texts.TEXTS.get(code, {}).get(lang, "").strip()
                                for lang in problem_texts.LANGUAGES))
    assert missing == [], "codes without both texts"
    assert sorted(set(problem_texts.TEXTS) - codes) == [], "texts for codes that do not exist"


def test_the_texts_differ_by_language_and_use_only_known_names() -> None:
    for code, by_lang in problem_texts.TEXTS.items():
        assert set(by_lang) == set(problem_texts.LANGUAGES), code
        assert by_lang["sv"] != by_lang["en"], code
        names = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in by_lang.values()]
        assert names[0] == names[1] and names[0] <= problem_texts.PLACEHOLDERS, code


def test_text_fills_in_the_library_and_the_supplier() -> None:
    assert problem_texts.text("HOLDING_NOT_CUSTOMER", "sv", sigel="Hig", supplier="DEMO").startswith(
        "Hig är inte registrerat som kund hos leverantören DEMO")
    assert problem_texts.text("HOLDING_NOT_CUSTOMER", "en", sigel="Hig", supplier="DEMO").startswith(
        "Hig is not registered as a customer of supplier DEMO")
    assert problem_texts.text("MISSING_245", "de") == problem_texts.text("MISSING_245", "sv")
    assert problem_texts.text("NO_SUCH_CODE", "sv") is None
