"""File names: Libris's delivery convention, and the names the file drop accepts at all.

Libris's suppliers name their files `SUPPLIER_[SIGEL]_[YYYYMMDDhhmmss]….xml`: the supplier's code,
the sigel of the library the file is for, and when it was written, each part in brackets (files
are also seen with the brackets left out). Such a name's parts are recorded with the delivery;
any other (safe) name is accepted as well and recorded as it is.
"""

from __future__ import annotations

import re
from datetime import datetime

#: The convention; the brackets are optional, anything may follow the time stamp.
_LIBRIS = re.compile(
    r"^(?P<supplier>[A-Za-z0-9.-]+)_\[?(?P<sigel>[^\s_\[\]/:]{1,32})\]?_\[?(?P<stamp>\d{14})\]?(?P<rest>[^/]*)$"
)
#: Names of uploads still being written by clients that upload under a temporary name and then
#: rename (WinSCP's .filepart, FileZilla and others): such a file is taken once renamed.
TEMPORARY_SUFFIXES = (".filepart", ".part", ".partial", ".tmp", ".temp", ".upload")
MAX_NAME = 200


def safe_name(name: str) -> bool:
    """A plain file name the tree can hold: no separators, not hidden, printable, not too long."""
    return (
        0 < len(name) <= MAX_NAME
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and name.isprintable()
    )


def is_temporary(name: str) -> bool:
    return name.lower().endswith(TEMPORARY_SUFFIXES)


def describe(name: str) -> dict[str, str]:
    """What is recorded with a delivery about the file it came from."""
    found: dict[str, str] = {"name": name}
    m = _LIBRIS.match(name)
    if m is None:
        return found
    try:
        stamp = datetime.strptime(m["stamp"], "%Y%m%d%H%M%S")
    except ValueError:
        return found  # 14 digits, but not a time: not the convention
    found.update(convention="libris", supplier=m["supplier"], sigel=m["sigel"], written_at=stamp.isoformat())
    return found


def content_type(name: str) -> tuple[str, bool]:
    """(content type, gzip) by the file's extension; MARCXML unless it says ISO 2709."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    if gz:
        lower = lower[:-3]
    if lower.endswith((".mrc", ".marc", ".iso", ".iso2709", ".dat")):
        return "application/marc", gz
    return "application/marcxml+xml", gz


def base_name(name: str) -> str:
    """The name a report is written under (`NAME.json`, `NAME.txt`): the file's without its extensions."""
    lower = name.lower()
    for ext in (".gz", ".xml", ".mrc", ".marc", ".iso2709", ".iso", ".dat"):
        if lower.endswith(ext) and len(name) > len(ext):
            name, lower = name[: -len(ext)], lower[: -len(ext)]
    return name
