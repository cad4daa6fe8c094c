"""What one title says in the library's language: its outcome, why it was rejected (the problem
texts of gateway.problem_texts, with the code), the candidates of an ambiguous match; and why
nothing was loaded, for a message whose titles were all rejected.

Pure; record data (candidate titles, stored messages) comes out as single lines (see safe.py).
"""

from __future__ import annotations

from gateway import problem_texts
from gateway.outbox.mail import content as c
from gateway.outbox.mail import safe
from gateway.outbox.mail.content import DeliveryContent, Item, Reason

#: Distinct reasons named in the opening of a message that loaded nothing.
MAX_WHY = 3


def reason(r: Reason, language: str, sigel: str, supplier: str) -> str:
    """'<plain words> (CODE)'; a code the table does not know keeps the stored message."""
    words = problem_texts.text(r["code"], language, sigel=sigel, supplier=supplier) if r["code"] else None
    text = safe.one_line(words or r["message"] or r["code"], 400)
    if r["code"] and text != r["code"]:
        text += f" ({safe.one_line(r['code'], 40)})"
    return text


def outcome(t: dict[str, str], item: Item, language: str, sigel: str, supplier: str) -> str:
    words = t.get(item["outcome"], item["outcome"])
    if item["outcome"] == c.AMBIGUOUS:
        n = len(item.get("candidates", [])) + int(item.get("more_candidates", 0))
        record = "" if item["record_id"] is None else str(int(item["record_id"]))
        return f"{words} – {t['ambiguous_detail'].format(n=n, record=record)}"
    if item["outcome"] != c.REJECTED:
        return words
    reasons = [reason(r, language, sigel, supplier) for r in item["reasons"]]
    return f"{words} – {'; '.join(reasons) if reasons else t['reason_unknown']}"


def candidates(item: Item) -> list[tuple[int, str]]:
    """(record id, title as one line) of each listed candidate of an ambiguous match."""
    return [(int(x["record_id"]), safe.one_line(x["title"], 300)) for x in item.get("candidates", [])]


def more_candidates(t: dict[str, str], item: Item) -> str:
    n = int(item.get("more_candidates", 0))
    return t["more_candidates"].format(n=n) if n else ""


def nothing_loaded(deliveries: list[DeliveryContent]) -> bool:
    return c.nothing_loaded(c.total_counts(deliveries))


def why(deliveries: list[DeliveryContent], language: str, sigel: str) -> str:
    """The distinct reasons of the listed titles, the most frequent first (at most MAX_WHY)."""
    seen: dict[str, int] = {}
    for d in deliveries:
        supplier = safe.supplier_code(d["supplier_code"])
        for item in d["items"]:
            for r in item["reasons"]:
                text = reason(r, language, sigel, supplier)
                seen[text] = seen.get(text, 0) + 1
    ranked = sorted(seen, key=lambda k: -seen[k])
    return " ".join(ranked[:MAX_WHY]) + (" …" if len(ranked) > MAX_WHY else "")
