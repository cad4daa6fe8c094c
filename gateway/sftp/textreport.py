"""The readable report written beside the JSON one (`reports/NAME.txt`).

The summary, then one line per problem (rejected records and holdings, ambiguous matches with
their candidates, errors and warnings),
streamed from the same per-record rows as the JSON report, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

import asyncpg

from gateway.intake import report

#: Problem lines written at most; the JSON report has every one.
MAX_LINES = 10_000


def _file_line(file: dict[str, Any] | None) -> str:
    if not file:
        return ""
    line = f"File:       {file.get('name')}"
    if file.get("convention") == "libris":
        line += f"  (supplier {file['supplier']}, sigel {file['sigel']}, written {file['written_at']})"
    return line + "\n"


def _problems(prefix: str, items: Iterable[dict[str, Any]] | None, kind: str) -> list[str]:
    return [f"{prefix}: {kind} {p.get('code', '?')}: {p.get('message', '')}" for p in items or ()]


async def write(conn: asyncpg.Connection, delivery_id: int, out: TextIO) -> None:
    head = await report.header(conn, delivery_id, None)
    s = head["summary"] or {}
    out.write(f"Delivery {head['id']} from {head['supplier']}: {head['status']}\n")
    out.write(_file_line(head.get("file")))
    out.write(f"Received:   {head['received_at']}\nFinished:   {head['finished_at']}\n")
    if head.get("error"):
        out.write(f"Error:      {head['error']}\n")
    if s:
        out.write(
            f"Records:    {s.get('records', 0)}: created {s.get('created', 0)}, matched {s.get('matched', 0)}, "
            f"updated {s.get('updated', 0)}, ambiguous {s.get('ambiguous', 0)}, rejected {s.get('rejected', 0)}\n"
            f"Holdings:   added {s.get('holdings_added', 0)}, updated {s.get('holdings_updated', 0)}, "
            f"deleted {s.get('holdings_deleted', 0)}, rejected {s.get('holdings_rejected', 0)}\n"
        )
    out.write("\n")
    written = 0
    async with conn.transaction():
        async for entry in report.entries(conn, delivery_id):
            where = f"record {entry['position']}"
            if entry.get("supplier_id"):
                where += f" (001 {entry['supplier_id']})"
            lines = []
            if entry.get("outcome") == "rejected":
                lines.append(f"{where}: rejected")
            elif entry.get("outcome") == "ambiguous":
                found = ", ".join(f"{c['record_id']} {c.get('title') or ''}".rstrip()
                                  for c in entry.get("candidate_records") or ())
                lines.append(f"{where}: ambiguous, attached to {entry.get('record_id')} (the oldest) pending review; "
                             f"candidates: {found}")
            lines += _problems(where, entry.get("errors"), "error")
            lines += _problems(where, entry.get("warnings"), "warning")
            for h in entry.get("holdings") or ():
                at = f"{where}, holding {h.get('sigel') or '(no sigel)'} at {h['position']}"
                if h.get("outcome") == "rejected":
                    lines.append(f"{at}: rejected")
                lines += _problems(at, h.get("errors"), "error")
                lines += _problems(at, h.get("warnings"), "warning")
            for line in lines:
                if written == MAX_LINES:
                    out.write(f"… more problems in the JSON report ({MAX_LINES} shown here)\n")
                if written < MAX_LINES:
                    out.write(line.replace("\n", " ") + "\n")
                written += 1
    if written == 0:
        out.write("No problems.\n")


def refused(name: str, file: dict[str, Any], error: dict[str, object]) -> str:
    """The report of a file the intake refused as a whole: nothing of it was loaded."""
    lines = [f"File {name} was refused; nothing of it was loaded.", _file_line(file).rstrip("\n"),
             f"{error.get('error')}: {error.get('message')}"]
    extra = {k: v for k, v in error.items() if k not in ("error", "message", "status", "file")}
    if extra:
        lines.append(", ".join(f"{k} {v}" for k, v in extra.items()))
    return "\n".join(x for x in lines if x) + "\n"
