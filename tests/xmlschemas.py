"""Access to the official XML schemas kept beside the project (../shared/schemas).

Tests validate every protocol response against these. Where they are absent the test is
skipped with a reason that says where they were looked for; FORVARV_XSD_DIR overrides.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from lxml import etree

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"


def xsd_dir() -> Path:
    return Path(os.environ.get("FORVARV_XSD_DIR") or SHARED / "schemas")


def testdata_dir() -> Path:
    return Path(os.environ.get("FORVARV_TESTDATA_DIR") or SHARED / "testdata")


def testdata(relpath: str) -> Path:
    """Path of a file or folder in ../shared/testdata; skips the test when it is absent."""
    path = testdata_dir() / relpath
    if not path.exists():
        pytest.skip(f"test data {path} is absent (set FORVARV_TESTDATA_DIR)")
    return path


@functools.cache
def _load(path: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(path, parser))


def schema(relpath: str) -> etree.XMLSchema:
    """The compiled schema at FORVARV_XSD_DIR/relpath, e.g. 'oai-pmh/OAI-PMH-with-payloads.xsd'."""
    path = xsd_dir() / relpath
    if not path.exists():
        pytest.skip(f"XML schema {path} is absent (set FORVARV_XSD_DIR to the official XSDs)")
    return _load(str(path))


def assert_valid(relpath: str, document: bytes | etree._Element) -> etree._Element:
    """Validate a document against a schema; fail with every schema error listed."""
    root = etree.fromstring(document) if isinstance(document, bytes) else document
    xsd = schema(relpath)
    if not xsd.validate(root):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in xsd.error_log)
        raise AssertionError(f"not valid against {relpath}:\n{errors}")
    return root


# Not tests, although their names start with "test" (pytest collects imported functions).
testdata.__test__ = False  # type: ignore[attr-defined]
testdata_dir.__test__ = False  # type: ignore[attr-defined]
