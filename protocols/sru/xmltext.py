"""Writing XML as text: escaping and a small element writer.

SRU responses are written as strings rather than trees: stored MARCXML is already
serialised, and splicing it in verbatim is several times cheaper than parsing and
re-serialising every record. Every piece of text and every attribute value goes through
:func:`text` / :func:`attribute`, which also drop the characters XML 1.0 cannot carry.
"""

from __future__ import annotations

from protocols.xmlchars import FORBIDDEN

_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                       "\r": "&#13;", "\t": "&#9;"})


def clean(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot represent."""
    return FORBIDDEN.sub("", value)


def text(value: str) -> str:
    return clean(value).translate(_TEXT)


def attribute(value: str) -> str:
    return clean(value).translate(_ATTR)


class Writer:
    """Appends markup to a list of strings; ``str(writer)`` joins them."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def open(self, tag: str, attrs: dict[str, str] | None = None) -> None:
        self.parts.append(f"<{tag}{_attrs(attrs)}>")

    def close(self, tag: str) -> None:
        self.parts.append(f"</{tag}>")

    def leaf(self, tag: str, value: str | int | None, attrs: dict[str, str] | None = None) -> None:
        """``<tag>value</tag>``; nothing at all when value is None."""
        if value is None:
            return
        self.parts.append(f"<{tag}{_attrs(attrs)}>{text(str(value))}</{tag}>")

    def empty(self, tag: str, attrs: dict[str, str] | None = None) -> None:
        self.parts.append(f"<{tag}{_attrs(attrs)}/>")

    def raw(self, markup: str) -> None:
        """Markup that is already well-formed XML."""
        self.parts.append(markup)

    def __str__(self) -> str:
        return "".join(self.parts)


def _attrs(attrs: dict[str, str] | None) -> str:
    if not attrs:
        return ""
    return "".join(f' {name}="{attribute(value)}"' for name, value in attrs.items())
