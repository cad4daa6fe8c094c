"""The characters XML 1.0 cannot carry, defined once for every writer of XML text.

C0 controls other than tab, line feed and carriage return; lone surrogates (which cannot be
encoded at all); and the non-characters U+FFFE and U+FFFF. What a writer does with them —
drop or replace with U+FFFD — is its own policy; which characters they are is not.
"""

from __future__ import annotations

import re

#: (the escapes are re's, not Python's: no lone surrogate in the source text, which mypyc refuses)
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

#: Character references to characters XML 1.0 forbids (decimal or hexadecimal, any case).
_FORBIDDEN_REFERENCE = re.compile(
    r"&#(x0*([0-8bcef]|1[0-9a-f]|fff[ef])|0*([0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));", re.IGNORECASE)
#: The C0 controls XML 1.0 forbids: the only such characters a Latin-1 text can hold.
C0_FORBIDDEN = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))


def has_forbidden(text: str) -> bool:
    """Does the text hold a character XML 1.0 forbids?

    For the usual Latin-1 text this is a byte-level scan (re's character class search is several
    times slower on a whole record); wider text goes to the regular expression.
    """
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return FORBIDDEN.search(text) is not None
    return len(raw.translate(None, C0_FORBIDDEN)) != len(raw)


def stored_xml_unsafe(text: str) -> bool:
    """Must this stored XML text be cleaned before it is embedded in a response?

    True when it holds a character XML 1.0 forbids or a reference to one, or starts with white
    space or a declaration. The same tests as the SQL function xml_unsafe (migration 0006), and
    never False where that is true (it may say True where Unicode white space counts, which only
    costs a cleaning).
    """
    if has_forbidden(text) or text[:1].isspace() or text.startswith("<?"):
        return True
    return "&#" in text and _FORBIDDEN_REFERENCE.search(text) is not None
