"""What the benchmarks read about processes from /proc (Linux): CPU time and the process tree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

_TICK = os.sysconf("SC_CLK_TCK")


class Proc(NamedTuple):
    pid: int
    ppid: int
    name: str
    cpu: float  # seconds, user + system


def processes() -> Iterator[Proc]:
    """Every process readable now (one that ends while being read is left out)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        yield Proc(int(stat.parent.name), int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICK)


def is_postgres(p: Proc) -> bool:
    return p.name.startswith("postgres")


def postgres_cpu() -> float:
    """CPU seconds used so far by every process named postgres on this machine (an embedded or
    local server: the figure is meaningless for a remote FORVARV_DATABASE_URL)."""
    return sum(p.cpu for p in processes() if is_postgres(p))


def tree(pid: int) -> list[Proc]:
    """The process and its descendants (the gateway's second process), PostgreSQL left out."""
    procs = [p for p in processes() if not is_postgres(p)]
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    out = [p for p in procs if p.pid == pid]
    todo = list(out)
    while todo:
        kids = children.get(todo.pop().pid, [])
        out.extend(kids)
        todo.extend(kids)
    return out
