"""Validation and safe normalisation of one record.

`check(record, kind=...)` returns a *new* normalised Record plus errors and warnings (codes in
problems.CODES). Any error means the record must be rejected; warnings describe what was
repaired. Normalisation never invents content: it fixes leader bookkeeping (lengths, base
address, '22', '4500', Leader/09 = 'a' because records are stored as UTF-8), blanks empty or
invalid indicators, upper-cases tags, trims whitespace in data field values, drops empty
subfields/fields and removes characters that XML 1.0 does not allow.
"""

from __future__ import annotations

from .identifiers import has_any_identifier
from .problems import Problem
from .record import BIBLIOGRAPHIC, HOLDINGS, HOLDINGS_TYPES, ControlField, DataField, Record
from .writer import clean_xml_chars, has_illegal_chars, iso_lengths, utf8_len

__all__ = ["Problem", "check"]

BIB_TYPES = frozenset("acdefgijkmoprt")
BIB_STATUS = frozenset("acdnp")
HOLDINGS_STATUS = frozenset("cdn")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SUBFIELD_CODES = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_INDICATORS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz ")
_LEADER_FREE = _ALNUM | {" "}
#: Leader/00-04 and /12-16 are recomputed whatever they hold; digits, blanks and the placeholder
#: X (Libris's documented supplier template: `XXXXXax  a22XXXXX1n 4500`) are what they may hold
#: without a warning.
_LENGTH_PLACEHOLDERS = frozenset("0123456789Xx ")
#: Leader/05 of a holdings record that is read as 'n' (new) without a warning: Libris's holdings
#: template has 'a' there.
_HOLDINGS_STATUS_AS_NEW = frozenset("a")
#: Tags the fast path accepts as they are (`_tag` would neither fix nor refuse them).
_CONTROL_TAGS = frozenset(f"00{d}" for d in "123456789")
_DATA_TAGS = frozenset(f"{n:03d}" for n in range(10, 1000))
_DIGIT_TAGS = frozenset(f"{n:03d}" for n in range(1000))


class _Collector:
    __slots__ = ("errors", "seen", "warnings")

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.seen: set[tuple[str, str | None]] = set()

    def add(self, code: str, message: str, tag: str | None = None) -> None:
        key = (code, tag)
        if key in self.seen:
            return  # one problem per code and tag is enough
        self.seen.add(key)
        problem = Problem(code, message, tag)
        (self.errors if problem.is_error else self.warnings).append(problem)


def _clean(value: str, out: _Collector, tag: str) -> str:
    cleaned = clean_xml_chars(value)
    if cleaned != value:
        out.add("INVALID_CHARACTERS", f"characters not allowed in XML were removed from {tag}", tag)
    return cleaned


def _tag(raw: str, out: _Collector) -> str | None:
    if raw in _DIGIT_TAGS:
        return raw  # nothing to fix or refuse (the usual case)
    tag = raw.strip()
    if len(tag) != 3 or not (tag.isascii() and tag.isalnum()):
        out.add("TAG_INVALID", f"tag {raw!r} is not three letters or digits", raw)
        return None
    if tag.upper() != tag:
        out.add("TAG_LOWERCASE", f"tag {tag!r} was upper-cased", tag.upper())
        tag = tag.upper()
    return tag


def _leader_prelim(raw: str, out: _Collector) -> str | None:
    """Leader text of 24 characters, or None (error reported)."""
    if len(raw) == 24:
        return raw
    stripped = raw.strip()
    if len(stripped) == 24:
        out.add("LEADER_TRIMMED", "whitespace around the leader was removed")
        return stripped
    out.add("LEADER_INVALID", f"the leader has {len(stripped)} characters, 24 are required")
    return None


def _indicator(ind: str, out: _Collector, tag: str) -> str:
    """The repaired value of an indicator that is not one of `_INDICATORS` (reported to `out`).

    An empty indicator (`ind1=""`, as in Libris's holdings template) is the blank it stands for,
    without a warning: there is nothing for the supplier to fix."""
    if not ind:
        return " "
    if len(ind) == 1 and ind.lower() in _INDICATORS:
        out.add("INDICATOR_FIXED", f"upper-case indicator in {tag} was lower-cased", tag)
        return ind.lower()
    out.add("INDICATOR_FIXED", f"indicator {ind!r} in {tag} was replaced by a blank", tag)
    return " "


def _fields(record: Record, out: _Collector) -> tuple[list[ControlField], list[DataField]]:
    """Normalised copies of the record's fields; every repair and refusal is reported to `out`."""
    controlfields: list[ControlField] = []
    for cf in record.controlfields:
        tag = _tag(cf.tag, out)
        if tag is None:
            continue
        if not tag.startswith("00") or tag == "000":
            out.add("CONTROL_TAG_INVALID", f"control field tag {tag} is not 001-009", tag)
            continue
        value = _clean(cf.value, out, tag)
        if value.strip("\r\n\t") != value:
            value = value.strip("\r\n\t")
            out.add("WHITESPACE_TRIMMED", f"line breaks or tabs trimmed in {tag}", tag)
        if not value.strip():
            out.add("EMPTY_FIELD", f"empty control field {tag} was removed", tag)
            continue
        controlfields.append(ControlField(tag, value))

    datafields: list[DataField] = []
    for df in record.datafields:
        tag = _tag(df.tag, out)
        if tag is None:
            continue
        if tag.startswith("00"):
            out.add("DATAFIELD_TAG_INVALID", f"data field has control field tag {tag}", tag)
            continue
        ind1, ind2 = df.ind1, df.ind2
        if ind1 not in _INDICATORS:
            ind1 = _indicator(ind1, out, tag)
        if ind2 not in _INDICATORS:
            ind2 = _indicator(ind2, out, tag)
        subfields: list[tuple[str, str]] = []
        for code, value in df.subfields:
            if len(code) != 1 or code not in _SUBFIELD_CODES:
                out.add("SUBFIELD_CODE_INVALID", f"subfield code {code!r} in {tag} is not a-z or 0-9", tag)
                continue
            value = _clean(value, out, tag)
            stripped = value.strip()
            if stripped != value:
                out.add("WHITESPACE_TRIMMED", f"whitespace trimmed in {tag}", tag)
            if not stripped:
                out.add("EMPTY_SUBFIELD", f"empty subfield ${code} in {tag} was removed", tag)
                continue
            subfields.append((code, stripped))
        if not subfields:
            out.add("EMPTY_FIELD", f"field {tag} without subfields was removed", tag)
            continue
        datafields.append(DataField(tag, ind1, ind2, subfields))
    return controlfields, datafields


def _fields_unchanged(record: Record) -> tuple[list[ControlField], list[DataField], int] | None:
    """Fast path: the fields when `_fields` would neither repair nor report anything, with the
    fields' ISO 2709 size (what `iso_lengths` adds up, without leader and directory).

    Most delivered records are clean, and checking them value by value is the costliest part of
    validation. This asks the same questions of the whole record at once; it may answer None
    for a record that is in fact clean (then `_fields` decides), never the other way round:

    * tags 001-009 / 010-999 (digits; `_tag` would neither fix nor refuse them), indicators
      already valid, at least one subfield per data field, every code one of a-z 0-9;
    * no value holds a character that XML does not allow (`clean_xml_chars` keeps it as is),
      which is asked once of all values joined; none is empty and none starts or ends with
      whitespace (`strip` keeps it as is).

    The control fields are copies (callers set their values in place); the data fields are the
    record's own DataField objects in a new list (callers add or replace whole data fields, see
    `check`), which saves copying every field of every clean record.
    """
    controlfields: list[ControlField] = []
    size = 0
    for cf in record.controlfields:
        value = cf.value
        if cf.tag not in _CONTROL_TAGS or not value.isprintable() or not value.strip():
            return None
        controlfields.append(ControlField(cf.tag, value))
        size += utf8_len(value) + 1
    datafields = record.datafields
    if datafields:
        subfields: list[tuple[str, str]] = []
        extend = subfields.extend
        for df in datafields:
            if (
                df.tag not in _DATA_TAGS
                or df.ind1 not in _INDICATORS
                or df.ind2 not in _INDICATORS
                or not df.subfields
            ):
                return None
            extend(df.subfields)
        codes, values = zip(*subfields, strict=True)
        if not _SUBFIELD_CODES.issuperset(codes):
            return None
        # no value empty, none changed by strip (which returns the very same string then)
        if not all(values) or tuple(map(str.strip, values)) != values:
            return None
        text = "".join(values)
        if has_illegal_chars(text):
            return None
        # per field: indicators and terminator; per subfield: delimiter and code (one ASCII
        # character each, checked above) and the value
        size += 3 * len(datafields) + 2 * len(subfields) + utf8_len(text)
    return controlfields, list(datafields), size


def check(record: Record, *, kind: str | None = None) -> tuple[Record, list[Problem], list[Problem]]:
    """Validate and normalise a record: (normalised copy, errors, warnings).

    `kind` is the kind expected by the caller (record.BIBLIOGRAPHIC or record.HOLDINGS); when
    given and the record is of the other kind, ``KIND_MISMATCH`` is an error.

    The copy has its own leader, field lists and control fields, but a clean record's DataField
    objects (and their subfield lists) are shared with the input: add, remove or replace data
    fields of the copy, never change one in place.
    """
    out = _Collector()
    fast = _fields_unchanged(record)
    size: int | None = None
    if fast is not None:
        controlfields, datafields, size = fast
    else:
        controlfields, datafields = _fields(record, out)

    # --- leader -------------------------------------------------------------------------------
    leader = _leader_prelim(record.leader, out)
    type_attr = record.type_attr
    new = Record(leader or "", controlfields, datafields, type_attr)
    if leader is not None:
        fixed = leader  # the leader with the repairs below (24 characters)
        rtype = leader[6]
        if rtype in HOLDINGS_TYPES:
            actual = HOLDINGS
        elif rtype in BIB_TYPES:
            actual = BIBLIOGRAPHIC
        else:
            actual = ""
            out.add("LEADER_TYPE_INVALID", f"Leader/06 {rtype!r} is not a MARC 21 type of record")
        if actual:
            if type_attr is not None and type_attr != actual:
                out.add("TYPE_ATTR_MISMATCH", f"type attribute {type_attr!r} but Leader/06 {rtype!r}")
            new.type_attr = actual
            if kind is not None and kind != actual:
                out.add("KIND_MISMATCH", f"a {actual} record where a {kind} record was expected")
            statuses = HOLDINGS_STATUS if actual == HOLDINGS else BIB_STATUS
            if actual == HOLDINGS and leader[5] in _HOLDINGS_STATUS_AS_NEW:
                fixed = fixed[:5] + "n" + fixed[6:]
            elif leader[5] not in statuses:
                out.add("LEADER_STATUS_INVALID", f"Leader/05 {leader[5]!r} is not valid; set to 'n'")
                fixed = fixed[:5] + "n" + fixed[6:]
        if not _LEADER_FREE.issuperset(leader[7:9] + leader[17:20]):
            for pos in (7, 8, 17, 18, 19):
                if leader[pos] not in _LEADER_FREE:
                    # Leader/17 blank would claim full level (never replaced, and wrong): 'u' is
                    # the code for an encoding level not known, which is what the record says.
                    code = "u" if pos == 17 else " "
                    fixed = fixed[:pos] + code + fixed[pos + 1 :]
                    done = "set to 'u' (level unknown)" if pos == 17 else "was blanked"
                    out.add("LEADER_CHAR_INVALID", f"Leader/{pos:02d} {leader[pos]!r} {done}")
        if leader[9] != "a":
            out.add("LEADER_CODING_FIXED", f"Leader/09 {leader[9]!r} set to 'a' (records are stored as UTF-8)")
            fixed = fixed[:9] + "a" + fixed[10:]
        if leader[10:12] != "22" or leader[20:24] != "4500":
            out.add("LEADER_FIXED_POSITIONS", "Leader/10-11 must be '22' and /20-23 '4500'")
            fixed = fixed[:10] + "22" + fixed[12:20] + "4500"
        if not _LENGTH_PLACEHOLDERS.issuperset(leader[0:5] + leader[12:17]):
            out.add("LEADER_LENGTHS_FIXED", "record length and base address were recomputed")
        if size is not None and size <= 9999:  # no field can be longer than all of them together
            base = 24 + 12 * (len(controlfields) + len(datafields)) + 1
            length, longest = base + size + 1, size
        else:
            length, base, longest = iso_lengths(new)
        if length > 99999 or longest > 9999:
            out.add("RECORD_TOO_LONG", f"{length} bytes (longest field {longest}); ISO 2709 export will fail")
            length = min(length, 99999)
            base = min(base, 99999)
        new.leader = f"{length:05d}{fixed[5:12]}{base:05d}{fixed[17:]}"

    # --- content rules ------------------------------------------------------------------------
    if not controlfields and not datafields:
        out.add("NO_FIELDS", "the record has no fields")
    elif leader is not None and new.type_attr == BIBLIOGRAPHIC:
        for df in datafields:
            if df.tag == "245":
                break
        else:
            out.add("MISSING_245", "no title statement (245)", "245")
        if not has_any_identifier(new):
            out.add("NO_IDENTIFIER", "no ISBN, ISSN, EAN (024 ind1=3), 035 or 001 to match on")
    elif (
        leader is not None
        and new.type_attr == HOLDINGS
        and not any(v for df in new.fields("852") for v in df.values("b"))
    ):
        out.add("HOLDING_NO_SIGEL", "no 852 $b with the library's sigel", "852")
    return new, out.errors, out.warnings
