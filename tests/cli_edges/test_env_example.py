"""deploy/forvarv.env.example names every setting gateway/config.py reads, each with its value or
commented out with a comment above it, so an operator sees all there is to set."""

from __future__ import annotations

import re
from pathlib import Path

from gateway import config

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"FORVARV_[A-Z0-9_]+")


def test_the_env_example_lists_every_setting_config_reads() -> None:
    read = set(NAME.findall(Path(config.__file__).read_text(encoding="utf-8")))
    example = (ROOT / "deploy" / "forvarv.env.example").read_text(encoding="utf-8")
    listed = {m.group(1) for m in re.finditer(r"^#?(FORVARV_[A-Z0-9_]+)=", example, re.MULTILINE)}
    assert read - listed == set(), "settings config.py reads that deploy/forvarv.env.example does not list"
    assert listed - read == set(), "settings in deploy/forvarv.env.example that config.py does not read"
    lines = example.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("#FORVARV_") and not lines[n - 1].startswith("#"):
            raise AssertionError(f"{line}: a setting left out of the example says what it is in a comment above it")
