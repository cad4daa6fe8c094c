"""Named SQL queries kept in `.sql` files beside this module.

A file holds blocks that start with a line `-- name: query_name`; `load("loader")` returns
{name: sql}. Every query is parameterised ($1, $2, …); none is assembled from strings.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@functools.cache
def load(module: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath(f"{module}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{module}.sql: query {name} defined twice")
        queries[name] = body.strip().rstrip(";")
    return queries
