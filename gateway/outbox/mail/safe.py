"""Making record data and registry text safe to put in a message.

Headers never carry record data (titles, authors): the subject is built from the supplier code,
the delivery id and counts. What does reach a header (sigel, supplier code, addresses) goes
through `header_text` or `address`, and the message itself is built with policy SMTP, which
refuses CR/LF in header values as a second line of defence. Body text is reduced to one line per
value, without control or bidi override characters, and cut to a sane length.
"""

from __future__ import annotations

import re
import unicodedata

#: Bidi embedding/override/isolate controls: they could reorder the rest of a line.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_FSI, _PDI = "\u2068", "\u2069"
_SPACES = re.compile(r"\s+")
_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}@[^\s@<>()\[\],;:\"\\]{1,255}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_SUPPLIER_CODE = re.compile(r"[^A-Za-z0-9_.-]")


def one_line(value: object, limit: int = 300) -> str:
    """A single line of printable text: controls become spaces, bidi overrides go, long text is cut."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if not text.isprintable():  # the usual title is, and skips the per-character pass
        text = text.translate(_BIDI_CONTROLS)
        text = "".join(" " if _is_control(ch) else ch for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _is_control(ch: str) -> bool:
    # Cc: C0/C1 controls (CR, LF, TAB, NEL…); Zl/Zp: U+2028/U+2029; Cs: lone surrogates;
    # Cf other than the joiners and the soft hyphen goes too (bidi marks, zero-width tricks).
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Zl", "Zp", "Cs"):
        return True
    return cat == "Cf" and ch not in "\u200c\u200d\u00ad"


def has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def isolate(text: str) -> str:
    """Wrap right-to-left text in a first-strong isolate so it cannot reorder the line around it."""
    return f"{_FSI}{text}{_PDI}" if has_rtl(text) else text


def header_text(value: object, limit: int = 64) -> str:
    """Text for a header: one line, short. The email policy encodes non-ASCII (RFC 2047)."""
    return one_line(value, limit)


def supplier_code(value: object) -> str:
    """A supplier code as the registry allows it (letters, digits, _ . -), whatever was stored."""
    return _SUPPLIER_CODE.sub("", str(value or ""))[:64] or "?"


def address(value: object) -> str | None:
    """A plain addr-spec (local@domain) or None: no display names, no folding, no lists.

    The local part must be ASCII (no SMTPUTF8); an internationalised domain becomes its
    A-label (punycode) form.
    """
    text = str(value or "").strip()
    if any(_is_control(ch) for ch in text) or not _ADDRESS.match(text):
        return None
    local, _, host = text.rpartition("@")
    if not local.isascii() or local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if not _DOMAIN.match(host):
        return None
    return f"{local}@{host}"


def domain(value: str, fallback: str = "forvarv.invalid") -> str:
    """A host name usable after the @ of a Message-ID."""
    host = value.strip().rstrip(".").lower()
    return host if host and len(host) <= 253 and _DOMAIN.match(host) else fallback


def id_part(value: str) -> str:
    """Percent-encode everything but letters, digits, - and _, for the left side of a Message-ID."""
    out = []
    for ch in value:
        if ch.isascii() and (ch.isalnum() or ch in "-_"):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)
