"""Text that is safe in an XML 1.0 document.

Stored text may hold characters XML 1.0 forbids (C0 controls, U+FFFE/U+FFFF, or character
references to them); they are replaced by U+FFFD so that a response is always well-formed.
"""

from __future__ import annotations

import re

from protocols.xmlchars import FORBIDDEN

# Character references to those characters, e.g. `&#1;` or `&#x1F;`.
_FORBIDDEN_REF = re.compile(
    r"&#(?:x0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|[fF]{3}[eEfF])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));"
)
REPLACEMENT = "\ufffd"


def clean(text: str) -> str:
    """`text` with forbidden characters (and references to them) replaced."""
    if FORBIDDEN.search(text) is not None:
        text = FORBIDDEN.sub(REPLACEMENT, text)
    if "&#" in text and _FORBIDDEN_REF.search(text) is not None:
        text = _FORBIDDEN_REF.sub(REPLACEMENT, text)
    return text


def has_forbidden(text: str) -> bool:
    return FORBIDDEN.search(text) is not None


def escape(text: str) -> str:
    """Character data: forbidden characters replaced, markup characters escaped."""
    text = FORBIDDEN.sub(REPLACEMENT, text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(text: str) -> str:
    """An attribute value for double quotes."""
    return escape(text).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


_DECLARATION = re.compile(r"\s*<\?xml[^>]*\?>\s*")


def fragment(stored: str) -> str:
    """A stored XML document as an element to embed: no declaration, forbidden characters gone."""
    if stored.startswith("<?xml") or stored[:1].isspace():
        m = _DECLARATION.match(stored)
        if m:
            stored = stored[m.end() :]
    return clean(stored)
