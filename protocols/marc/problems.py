"""Problem codes reported by the MARC readers, the validator and the identifier extractor.

Every code is stable (stored with delivery results and shown to suppliers) and listed in
`CODES` with its severity and a plain English description; docs/marc-problems.md is the
human-readable copy. An *error* rejects the record (or, for `fatal`, the whole delivery);
a *warning* means the record was accepted, possibly after a safe normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["fatal", "error", "warning"]

#: code -> (severity, description)
CODES: dict[str, tuple[Severity, str]] = {
    # --- whole document (raised as exceptions, never per record) -------------------------
    "XML_SYNTAX": ("fatal", "The body is not well-formed XML (line and column are given)."),
    "XML_ENCODING": ("fatal", "The body contains bytes that are invalid in its character encoding."),
    "XML_DTD_FORBIDDEN": ("fatal", "The document has a DOCTYPE/entity declarations; they are refused."),
    "MARCXML_FOREIGN_ROOT": ("fatal", "The root element is not a MARC 21 slim collection or record."),
    "ISO_SYNTAX": ("fatal", "The body is not ISO 2709 (no record terminator, bad leader length, ...)."),
    # --- reader, per record -----------------------------------------------------------------
    "MARCXML_NO_NAMESPACE": (
        "warning",
        "The MARCXML elements have no namespace; they were read as MARC 21 slim.",
    ),
    "MARCXML_UNKNOWN_ELEMENT": ("warning", "An element that is not part of MARCXML was ignored."),
    "MARCXML_FOREIGN_RECORD": ("error", "A record element in a foreign namespace."),
    "MARCXML_NO_LEADER": ("error", "The record has no leader element."),
    "MARCXML_NO_TAG": ("error", "A controlfield or datafield has no tag attribute."),
    "MARCXML_NO_CODE": ("error", "A subfield has no code attribute."),
    "MARCXML_MULTIPLE_LEADERS": ("warning", "The record has more than one leader; the first was used."),
    "ISO_DECODE_ERROR": ("error", "The ISO 2709 record could not be decoded (structure or encoding)."),
    "ISO_LENGTH_MISMATCH": (
        "warning",
        "The record length in the ISO 2709 leader did not match the actual length.",
    ),
    # --- validation: leader ---------------------------------------------------------------
    "LEADER_INVALID": ("error", "The leader is missing or has a length that cannot be repaired."),
    "LEADER_TRIMMED": ("warning", "Whitespace around the leader was removed."),
    "LEADER_TYPE_INVALID": ("error", "Leader/06 (type of record) is not a valid MARC 21 value."),
    "LEADER_LENGTHS_FIXED": (
        "warning",
        "Leader/00-04 or /12-16 were not numeric (placeholders) and were recomputed.",
    ),
    "LEADER_STATUS_INVALID": ("warning", "Leader/05 (record status) was invalid and was set to 'n'."),
    "LEADER_CODING_FIXED": ("warning", "Leader/09 was not 'a'; it was set to 'a' (stored as UTF-8)."),
    "LEADER_FIXED_POSITIONS": ("warning", "Leader/10-11 ('22') or /20-23 ('4500') were corrected."),
    "LEADER_CHAR_INVALID": ("warning", "A leader position held an invalid character; it was blanked."),
    "TYPE_ATTR_MISMATCH": (
        "warning",
        "The MARCXML type attribute disagreed with Leader/06; Leader/06 was followed.",
    ),
    "KIND_MISMATCH": ("error", "The record is not of the kind expected here (bibliographic/holdings)."),
    "RECORD_TOO_LONG": ("warning", "The record or a field is too long for ISO 2709 export."),
    # --- validation: fields ---------------------------------------------------------------
    "NO_FIELDS": ("error", "The record has no fields."),
    "TAG_INVALID": ("error", "A tag is not three letters or digits."),
    "TAG_LOWERCASE": ("warning", "A tag contained lower-case letters; it was upper-cased."),
    "CONTROL_TAG_INVALID": ("error", "A control field has a tag outside 001-009 (00X)."),
    "DATAFIELD_TAG_INVALID": ("error", "A data field has a control field tag (00X)."),
    "SUBFIELD_CODE_INVALID": ("error", "A subfield code is not a single lower-case letter or digit."),
    "INDICATOR_FIXED": ("warning", "An empty or invalid indicator was replaced by a blank."),
    "WHITESPACE_TRIMMED": ("warning", "Leading/trailing whitespace was trimmed from values."),
    "EMPTY_SUBFIELD": ("warning", "An empty subfield was removed."),
    "EMPTY_FIELD": ("warning", "A field without content was removed."),
    "INVALID_CHARACTERS": (
        "warning",
        "Characters not allowed in XML 1.0 (control characters, non-characters) were removed.",
    ),
    "MISSING_245": ("error", "The bibliographic record has no title statement (245)."),
    "NO_IDENTIFIER": (
        "error",
        "The bibliographic record has nothing to match on: no ISBN, ISSN, EAN, 035 or 001.",
    ),
    "HOLDING_NO_SIGEL": ("error", "The holdings record has no 852 $b (library sigel)."),
    # --- identifiers ----------------------------------------------------------------------
    "ISBN_CHECK_DIGIT": ("warning", "An ISBN has a wrong check digit; it is not used for matching."),
    "ISBN_INVALID": ("warning", "An ISBN field does not contain a usable ISBN; it is not used."),
    "ISSN_INVALID": ("warning", "An ISSN is malformed or has a wrong check digit; it is not used."),
    "EAN_INVALID": ("warning", "An EAN/GTIN (024 first indicator 3) is invalid; it is not used."),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a record: a stable code, a message for humans, and the tag concerned."""

    code: str
    message: str
    tag: str | None = None

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    @property
    def is_error(self) -> bool:
        return CODES[self.code][0] != "warning"

    def __str__(self) -> str:
        where = f" [{self.tag}]" if self.tag else ""
        return f"{self.code}{where}: {self.message}"
