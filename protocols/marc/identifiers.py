"""Match identifiers and the carrier/match class of a bibliographic record.

Decisions (see docs/marc-problems.md):

* ISBNs come from 020 $a and 020 $z. Both count for matching: suppliers routinely put the
  other edition's or an old ISBN in $z and libraries expect those to match too. Every valid
  ISBN-10 or ISBN-13 is stored as ISBN-13 digits; qualifiers such as "(pbk.)", " :" or
  "inbunden" and hyphens/spaces (also Unicode hyphens, dashes and no-break spaces) are
  stripped. A wrong check digit gives ``ISBN_CHECK_DIGIT``, anything else unusable
  ``ISBN_INVALID``; neither is used for matching.
* ISSNs from 022 $a and $z, as NNNN-NNNN, validated (``ISSN_INVALID`` otherwise).
* EAN/GTIN from 024 with first indicator 3, validated, in one form (`normalize_ean`): a GTIN-12
  (UPC-A), a GTIN-8 or a GTIN-14 with leading zeros is the 13-digit EAN it equals. A valid EAN-13
  with the Bookland prefix 978 or 979 (not 979-0, which is ISMN) *is* an ISBN-13, so it is also
  added to the ISBNs.
* System numbers from 035 $a, whitespace normalised (runs collapsed, none after the "(ORG)"
  prefix), plus "(003)001" when both 001 and 003 are present. The raw 001/003 are exposed so
  the caller can qualify a bare 001 with the supplier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import mul

from stdnum import ean as std_ean
from stdnum import isbn as std_isbn
from stdnum import issn as std_issn

from .problems import Problem
from .record import DataField, Record

#: Separators between an ISBN's digits: whitespace (also no-break spaces), the ASCII hyphen and
#: the Unicode hyphens, dashes and minus sign that word processors and web forms put in its place.
_ISBN_SEPARATORS = r"\s\-" + "\u2010-\u2015\u2212"
_ISBN_CANDIDATE = re.compile(f"[0-9][0-9Xx{_ISBN_SEPARATORS}]*")
_ISBN_SEPARATOR = re.compile(f"[{_ISBN_SEPARATORS}]")
_ISSN_CANDIDATE = re.compile(r"[0-9]{4}\s*-?\s*[0-9]{3}[0-9Xx]")
_SPACE_OR_DASH = re.compile(r"[\s-]")
_DIGITS = re.compile(r"[0-9]+")
#: The data fields `extract` reads.
_ID_TAGS = frozenset(("020", "022", "024", "035"))


@dataclass(slots=True)
class Identifiers:
    #: Valid ISBNs as ISBN-13 digits: 020 $a, then 020 $z, then 024 EANs that are ISBNs.
    isbns: list[str] = field(default_factory=list)
    #: Subset of `isbns` that were only found in 020 $z.
    isbns_z: list[str] = field(default_factory=list)
    #: Valid ISSNs as NNNN-NNNN (022 $a, then $z).
    issns: list[str] = field(default_factory=list)
    #: Valid EAN/GTIN digits (024 ind1=3 $a).
    eans: list[str] = field(default_factory=list)
    #: 035 $a values, whitespace normalised, then "(003)001".
    sysnos: list[str] = field(default_factory=list)
    control_001: str | None = None
    control_003: str | None = None
    #: Values that were refused (as sent) and the warnings about them.
    rejected: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) pairs for matching, deduplicated, in a stable order."""
        out: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for kind, values in (
            ("isbn", self.isbns),
            ("issn", self.issns),
            ("ean", self.eans),
            ("sysno", self.sysnos),
        ):
            for value in values:
                if (kind, value) not in seen:
                    seen.add((kind, value))
                    out.append((kind, value))
        return out

    def keys(self) -> list[str]:
        """Match keys such as 'isbn:9789150222319', 'issn:2049-3630', 'sysno:(BOKR)123'."""
        return [f"{kind}:{value}" for kind, value in self.pairs()]


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def _ean_check_digit(body: str) -> str:
    """EAN/ISBN-13 check digit of the ASCII digits before it: weights 3 and 1 from the right.

    Summed as bytes (a digit's byte is 48 more than its value: the sums are corrected once),
    which is a third of the cost of converting each digit with int()."""
    raw = body.encode("ascii")
    odd, even = raw[-1::-2], raw[-2::-2]
    return str((10 - 3 * (sum(odd) - 48 * len(odd)) - (sum(even) - 48 * len(even))) % 10)


_ISBN10_WEIGHTS = range(1, 10)


def _isbn10_check_digit(body: str) -> str:
    """ISBN-10 check digit of the nine ASCII digits before it (weights 1-9, mod 11, 10 is X)."""
    check = (sum(map(mul, _ISBN10_WEIGHTS, body.encode("ascii"))) - 48 * 45) % 11
    return "X" if check == 10 else str(check)


def normalize_isbn(raw: str) -> tuple[str | None, str | None]:
    """(ISBN-13 digits, None) for a usable value, else (None, problem code).

    The check-digit arithmetic is written out here instead of calling python-stdnum: this runs
    for every ISBN of every delivered record and stdnum's general-purpose cleaning made it one of
    the costliest steps of intake. The rules are stdnum's `isbn.validate` and `isbn.to_isbn13`
    (9 digits get a leading 0; ISBN-10 mod 11 with X; ISBN-13 is an EAN-13 starting 978/979),
    and the identifier tests pin them.
    """
    match = _ISBN_CANDIDATE.search(raw)
    if match is None:
        return None, "ISBN_INVALID"
    compact = match.group().replace("-", "").replace(" ", "")
    if not compact.isalnum():  # rarer separators (tabs, no-break spaces, Unicode dashes)
        compact = _ISBN_SEPARATOR.sub("", compact)
    compact = compact.upper()  # [0-9][0-9X]*
    if len(compact) == 9:
        compact = "0" + compact
    body, last = compact[:-1], compact[-1]
    if "X" in body:
        return None, "ISBN_INVALID"
    if len(compact) == 10:
        if _isbn10_check_digit(body) != last:
            return None, "ISBN_CHECK_DIGIT"
        body = "978" + body
        return body + _ean_check_digit(body), None
    if len(compact) == 13:
        if last == "X":
            return None, "ISBN_INVALID"
        if _ean_check_digit(body) != last:
            return None, "ISBN_CHECK_DIGIT"
        if body[:3] not in ("978", "979"):
            return None, "ISBN_INVALID"
        return compact, None
    return None, "ISBN_INVALID"


def normalize_issn(raw: str) -> str | None:
    match = _ISSN_CANDIDATE.search(raw)
    if match is None:
        return None
    compact = _SPACE_OR_DASH.sub("", match.group()).upper()
    if not std_issn.is_valid(compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


def normalize_ean(digits: str) -> str:
    """The stored form of a valid GTIN's digits: the same number with fewer than 14 significant
    digits (GTIN-8, GTIN-12 = UPC-A, a zero-led GTIN-14) as 13 digits, zero-padded on the left
    (which keeps the check digit: its weights count from the right); a full GTIN-14 as it is."""
    significant = digits.lstrip("0")
    return digits if len(significant) > 13 else significant.zfill(13)


def normalize_sysno(raw: str) -> str:
    # whitespace runs become one space, none at either end (as re.sub(r"\s+", " ", raw).strip():
    # str.split and re's \s agree on what whitespace is)
    value = " ".join(raw.split())
    if value.startswith("("):
        close = value.find(")")
        if close > 0:
            value = value[: close + 1].replace(" ", "") + value[close + 1 :].lstrip()
    return value


def extract(record: Record) -> Identifiers:
    ids = Identifiers()
    warn = ids.warnings
    # one pass over the fields; each tag is then handled in record order, 020s first
    found: dict[str, list[DataField]] = {}
    for df in record.datafields:
        if df.tag in _ID_TAGS:
            found.setdefault(df.tag, []).append(df)

    for df in found.get("020", ()):
        for code, value in df.subfields:
            if code not in "az" or not value.strip():
                continue
            isbn13, problem = normalize_isbn(value)
            if isbn13 is None:
                assert problem is not None
                ids.rejected.append(value)
                warn.append(Problem(problem, f"020 ${code} {value!r} is not a valid ISBN", "020"))
            elif code == "a":
                _add(ids.isbns, isbn13)
            elif isbn13 not in ids.isbns:
                _add(ids.isbns_z, isbn13)
    for isbn13 in ids.isbns_z:
        _add(ids.isbns, isbn13)

    for df in found.get("022", ()):
        for code, value in df.subfields:
            if code not in "az" or not value.strip():
                continue
            issn = normalize_issn(value)
            if issn is None:
                ids.rejected.append(value)
                warn.append(Problem("ISSN_INVALID", f"022 ${code} {value!r} is not a valid ISSN", "022"))
            else:
                _add(ids.issns, issn)

    for df in found.get("024", ()):
        if df.ind1 != "3":
            continue
        for value in df.values("a"):
            compact = _SPACE_OR_DASH.sub("", value)
            match = _DIGITS.match(compact)
            digits = match.group() if match else ""
            if not digits or not std_ean.is_valid(digits) or len(digits) not in (8, 12, 13, 14):
                ids.rejected.append(value)
                warn.append(Problem("EAN_INVALID", f"024 $a {value!r} is not a valid EAN/GTIN", "024"))
                continue
            digits = normalize_ean(digits)
            _add(ids.eans, digits)
            bookland = len(digits) == 13 and digits[:3] in ("978", "979") and digits[:4] != "9790"
            if bookland and std_isbn.is_valid(digits):
                _add(ids.isbns, digits)

    for df in found.get("035", ()):
        for code, value in df.subfields:
            if code == "a":
                sysno = normalize_sysno(value)
                if sysno:
                    _add(ids.sysnos, sysno)

    c001 = c003 = None
    for cf in record.controlfields:  # the first of each, as Record.control answers
        if cf.tag == "001":
            if c001 is None:
                c001 = cf.value
        elif cf.tag == "003" and c003 is None:
            c003 = cf.value
    ids.control_001 = c001.strip() if c001 and c001.strip() else None
    ids.control_003 = c003.strip() if c003 and c003.strip() else None
    if ids.control_001 and ids.control_003:
        # normalised as a 035 is, so the same number sent either way is the same key
        _add(ids.sysnos, normalize_sysno(f"({ids.control_003}){ids.control_001}"))
    return ids


def has_any_identifier(record: Record) -> bool:
    """True if the record has anything to match on, valid or not (020/022 $a $z, 024 ind1=3,
    035 $a, 001). Used by validation's NO_IDENTIFIER check."""
    for df in record.datafields:
        tag = df.tag
        if tag in ("020", "022"):
            if any(v.strip() for c, v in df.subfields if c in "az"):
                return True
        elif tag == "024":
            if df.ind1 == "3" and any(v.strip() for v in df.values("a")):
                return True
        elif tag == "035" and any(v.strip() for v in df.values("a")):
            return True
    c001 = record.control("001")
    return bool(c001 and c001.strip())


# --- carrier / match class ------------------------------------------------------------------
_ELECTRONIC_FORMS = frozenset("oqs")
#: Leader/06 values whose 008 has form of item at position 29 (maps, visual materials).
_FORM_AT_29 = frozenset("efgkor")
#: Leader/06 values whose 008 has form of item at position 23 (books, music, serials, mixed).
_FORM_AT_23 = frozenset("acdijpt")


def carrier(record: Record) -> str:
    """'electronic' or 'print' (see module docs for the rule)."""
    leader = record.leader
    rtype = leader[6] if len(leader) > 6 else ""
    if rtype == "m":
        return "electronic"
    for cf in record.controlfields:
        if cf.tag == "007" and cf.value[:1] == "c":
            return "electronic"
    f008 = record.control("008")
    if f008:
        if rtype in _FORM_AT_23:
            pos = 23
        elif rtype in _FORM_AT_29:
            pos = 29
        else:
            return "print"
        if len(f008) > pos and f008[pos] in _ELECTRONIC_FORMS:
            return "electronic"
    return "print"


def match_class(record: Record) -> str:
    """Leader/06 + ':' + carrier, e.g. 'a:print'; records of different classes never merge."""
    leader = record.leader
    rtype = leader[6] if len(leader) > 6 else "?"
    return f"{rtype}:{carrier(record)}"
