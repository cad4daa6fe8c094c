"""Preparing read records for the loader, in this process or in a second one.

Everything the loader does to a record that does not depend on the database — validation and
normalisation, identifiers, the match class, the summary, and the MARCXML to store — happens
here, once per record, and its result is a small picklable `PreparedBib` or `PreparedHolding`.
What only writing can decide (the record's id, the parent's id, the timestamp) is left as empty
slots in the stored MARCXML (`Template`), filled in with string joins when the batch is written.

On a two-core machine this is about half of a delivery's CPU time, so a large delivery is
prepared in a second process (gateway.intake.parse_process); everything here runs the same there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from protocols.marc import identifiers, summary, validate, writer
from protocols.marc.isoreader import IsoParser
from protocols.marc.problems import Problem
from protocols.marc.record import ControlField, DataField, Record
from protocols.marc.xmlreader import MarcXmlParser, ReadResult

#: Stored MARCXML with empty control fields to fill in: text, a slot's tag, text, ... text
#: (a plain tuple of strings: it crosses to the loader's process many times a second).
Template = tuple[str, ...]


def fill(template: Template, values: dict[str, str]) -> str:
    """The MARCXML with each slot's control field holding values[tag] (digits: nothing to escape)."""
    parts = list(template)
    for i in range(1, len(parts), 2):
        tag = parts[i]
        parts[i] = f'<controlfield tag="{tag}">{values[tag]}</controlfield>'
    return "".join(parts)


#: The slots: control fields set to "" before serialising (validation removes every empty
#: control field a record brings, so an empty one in the output is always a slot).
_SLOT = re.compile(r'<controlfield tag="(00[145])"></controlfield>')


def _template(record: Record) -> tuple[Template, bool]:
    """The template, and whether the stored text must be cleaned before it is embedded (OAI-PMH;
    migration 0006): never, for writer.to_marcxml's text (it drops or replaces every character
    XML does not allow, escapes every & so no character reference is left, and starts with
    `<record`: `stored_xml_unsafe` would answer False, tests/marc/test_writer.py holds it to
    that), and the slots are filled with digits, which cannot change it. Not asking saves a scan
    of every stored text."""
    return tuple(_SLOT.split(writer.to_marcxml(record))), False


class PreparedBib(NamedTuple):
    position: int
    own_id: str | None
    #: None when the record is rejected (see errors)
    template: Template | None
    errors: list[dict[str, str]]
    warnings: list[dict[str, str]]
    pairs: list[tuple[str, str]]
    keys: list[str]
    match_class: str
    level: str
    title: str | None
    described: dict[str, Any]
    #: the stored text needs cleaning before it is embedded in a response (bib_records.xml_unsafe)
    unsafe: bool = False


class PreparedHolding(NamedTuple):
    position: int
    own_id: str | None
    template: Template | None
    errors: list[dict[str, str]]
    warnings: list[dict[str, str]]
    sigel: str | None
    #: the 004 as sent (stripped), None when there is none
    ref: str | None
    delete: bool
    unsafe: bool = False


class DoneBib(NamedTuple):
    """A bibliographic record whose result a previous attempt already wrote (resumed delivery)."""

    position: int
    own_id: str | None


Prepared = PreparedBib | PreparedHolding | DoneBib


def problems(items: list[Problem]) -> list[dict[str, str]]:
    out = []
    for p in items:
        entry = {"code": p.code, "message": p.message}
        if p.tag:
            entry["tag"] = p.tag
        out.append(entry)
    return out


def _own_id(record: Record | None) -> str | None:
    return (record.control("001") or "").strip() or None if record is not None else None


def prepare_bib(pos: int, record: Record | None, read_problems: list[Problem], supplier_code: str,
                org_code: str) -> PreparedBib:
    errors = [p for p in read_problems if p.is_error]
    warnings = [p for p in read_problems if not p.is_error]
    own_id = _own_id(record)
    template: Template | None = None
    unsafe = False
    pairs: list[tuple[str, str]] = []
    keys: list[str] = []
    match_class = level = ""
    title: str | None = None
    described: dict[str, Any] = {}
    if record is not None and not errors:
        record, v_errors, v_warnings = validate.check(record, kind="Bibliographic")
        errors += v_errors
        warnings += v_warnings
        if not v_errors:
            ids = identifiers.extract(record)
            warnings += ids.warnings
            pairs = ids.pairs()
            if own_id and not ids.control_003:
                pairs.append(("sysno", identifiers.normalize_sysno(f"({supplier_code}){own_id}")))
            if own_id:
                pairs.append(("supplier", f"{supplier_code}:{own_id}"))
            keys = [f"{k}:{v}" for k, v in pairs]
            match_class = identifiers.match_class(record)
            described = dict(summary.describe(record, ids=ids))
            found = described.get("title")
            title = found if isinstance(found, str) else None
            level = record.leader[17] if len(record.leader) > 17 else " "
            template, unsafe = _bib_template(record, own_id, supplier_code, org_code)
    if not errors and record is None:
        errors = [Problem("LEADER_INVALID", "the record could not be read")]
    if errors:
        template = None
    return PreparedBib(pos, own_id, template, problems(errors), problems(warnings), pairs, keys, match_class,
                       level, title, described, unsafe)


def _bib_template(record: Record, own_id: str | None, supplier_code: str, org_code: str) -> tuple[Template, bool]:
    """The record as stored: 001/003 are the gateway's, the supplier's id goes to 035."""
    if own_id:
        org = (record.control("003") or "").strip() or supplier_code
        sysno = f"({org}){own_id}"
        if sysno not in {v.strip() for v in record.subfield_values("035", "a")}:
            record.add_datafield(DataField("035", " ", " ", [("a", sysno)]))
    record.set_control("001", "")
    record.set_control("003", org_code)
    record.set_control("005", "")
    return _template(record)


def prepare_holding(pos: int, record: Record, read_problems: list[Problem], org_code: str) -> PreparedHolding:
    errors = [p for p in read_problems if p.is_error]
    warnings = [p for p in read_problems if not p.is_error]
    own_id = _own_id(record)
    checked, v_errors, v_warnings = validate.check(record, kind="Holdings")
    errors += v_errors
    warnings += v_warnings
    sigels = checked.subfield_values("852", "b")
    sigel = sigels[0].strip() if sigels and sigels[0].strip() else None
    ref = (checked.control("004") or "").strip() or None
    delete = len(checked.leader) > 5 and checked.leader[5] == "d"
    template = None
    unsafe = False
    if not errors:
        checked.set_control("001", "")
        checked.set_control("003", org_code)
        checked.remove_control("004")
        checked.controlfields.append(ControlField("004", ""))
        checked.controlfields.sort(key=lambda cf: cf.tag)
        checked.set_control("005", "")
        template, unsafe = _template(checked)
    return PreparedHolding(pos, own_id, template, problems(errors), problems(warnings), sigel, ref, delete, unsafe)


class Spec(NamedTuple):
    """What preparing one delivery needs to know."""

    fmt: str  # 'marcxml' or 'iso2709'
    charset: str | None
    supplier_code: str
    org_code: str
    #: positions a previous attempt already wrote (a resumed delivery)
    done: frozenset[int]


class Preparer:
    """Reads one delivery's stored payload and prepares its records."""

    def __init__(self, spec: Spec) -> None:
        self.parser = new_parser(spec.fmt, spec.charset)
        self.supplier_code = spec.supplier_code
        self.org_code = spec.org_code
        self.done = spec.done

    def prepare(self, result: ReadResult) -> Prepared | None:
        pos, record, read_problems = result
        done = pos in self.done
        if record is not None and record.is_holdings:
            if done:
                return None
            return prepare_holding(pos, record, read_problems, self.org_code)
        if done:
            return DoneBib(pos, _own_id(record))
        return prepare_bib(pos, record, read_problems, self.supplier_code, self.org_code)

    def _each(self, results: list[ReadResult]) -> Iterator[Prepared]:
        prepare = self.prepare
        for result in results:
            item = prepare(result)
            if item is not None:
                yield item

    def read(self, data: bytes) -> Iterator[Prepared]:
        """Lazily: the records are prepared as the caller takes them."""
        return self._each(self.parser.feed(data))

    def close(self) -> Iterator[Prepared]:
        return self._each(self.parser.close())


def new_parser(fmt: str, charset: str | None) -> MarcXmlParser | IsoParser:
    if fmt == "marcxml":
        return MarcXmlParser()
    return IsoParser(encoding="latin1" if charset == "iso-8859-1" else "auto")
