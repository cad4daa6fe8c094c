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


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def server_cpu(postmaster: int) -> float:
    """CPU seconds used so far by one PostgreSQL server: its postmaster and every process under it,
    plus what its children that have already ended used (the postmaster's reaped children's time,
    which the kernel adds up when it waits for them). Other servers on the machine are left out."""
    fields = _stat(postmaster)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime of the postmaster; its live descendants' own utime + stime
    total = sum(int(f) for f in fields[11:15]) / _TICK
    children: dict[int, list[Proc]] = {}
    for p in processes():
        children.setdefault(p.ppid, []).append(p)
    todo = list(children.get(postmaster, []))
    while todo:
        p = todo.pop()
        total += p.cpu
        todo.extend(children.get(p.pid, []))
    return total


async def postmaster_of(conn: object) -> int:
    """The pid of the postmaster serving an asyncpg connection (the parent of its backend)."""
    backend = await conn.fetchval("SELECT pg_backend_pid()")  # type: ignore[attr-defined]
    fields = _stat(int(backend))
    if fields is None:
        raise RuntimeError("the PostgreSQL server is not on this machine: its CPU cannot be read")
    return int(fields[1])
