"""Shared helpers for the MARC tests."""

from __future__ import annotations

from pathlib import Path

from protocols.marc.record import Record
from protocols.marc.xmlreader import read_marcxml
from tests.xmlschemas import testdata as shared_data


def chunks(data: bytes, size: int = 97) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def fixture_files() -> list[Path]:
    files = sorted(shared_data("libris-batchimport").glob("batch*.xml"))
    return [*files, shared_data("marc/sample1a.xml"), shared_data("marc/badisbns.xml")]


def read_file(path: Path) -> list[Record]:
    out = []
    for result in read_marcxml(chunks(path.read_bytes(), 4096)):
        assert result.record is not None, result.problems
        out.append(result.record)
    return out


def libris(name: str) -> list[Record]:
    return read_file(shared_data(f"libris-batchimport/{name}"))
