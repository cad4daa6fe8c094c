"""`forvarv review list|show|resolve` and `forvarv record show|protect|unprotect`.

`register(subparsers)` adds the commands; each sets `func`, an `async def (args, conn, settings)
-> int` that the main CLI calls with a database connection.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

import asyncpg

from gateway.config import Settings
from gateway.intake import protection, provenance, review


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


async def review_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    items = await review.list_items(conn, include_resolved=args.all)
    if args.json:
        _print_json(items)
        return 0
    for it in items:
        state = f" [resolved {it['resolution'].get('action') if it['resolution'] else ''}]" if it["resolved_at"] else ""
        print(f"#{it['id']} delivery {it['delivery_id']} pos {it['position']}: record {it['record_id']} "
              f"(candidates {', '.join(it['candidates'])}) {it['title'] or ''} — {it['reason']}{state}")
    if not items:
        print("the review queue is empty")
    return 0


async def review_show(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    _print_json(await review.get_item(conn, args.id, org_code=settings.org_code))
    return 0


async def review_resolve(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    if args.keep is not None:
        action, record_id = "keep", args.keep
    elif args.merge is not None:
        action, record_id = "merge", args.merge
    elif args.separate:
        action, record_id = "separate", None
    else:
        action, record_id = "dismiss", None
    records = [r for part in args.records for r in part.split(",") if r.strip()] if args.records else None
    actor = f"cli ({args.by or getpass.getuser()})"
    done = await review.resolve(conn, args.id, action, record_id=record_id, records=records, actor=actor,
                                override_protected=args.override_protected, org_code=settings.org_code)
    if args.json:
        _print_json(done)
        return 0
    text = {"keep": f"kept on record {done.get('record_id')}",
            "merge": f"merged {', '.join(done.get('merged', []))} into record {done.get('record_id')}",
            "separate": f"separated into new record {done.get('record_id')}",
            "dismiss": "dismissed (nothing changed)"}[action]
    print(f"review item {args.id} resolved: {text}")
    return 0


async def record_show(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    detail = await provenance.record_detail(conn, args.id)
    if not args.marc:
        detail.pop("marcxml")
    _print_json(detail)
    return 0


async def record_protect(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    state = await protection.set_protected(conn, args.id, args.action == "protect")
    print(f"record {state['record_id']} is {'protected' if state['protected'] else 'not protected'} "
          f"(encoding level {state['encoding_level']!r})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rp = sub.add_parser("review", help="the queue of ambiguous matches").add_subparsers(dest="action",
                                                                                       required=True)
    a = rp.add_parser("list", help="list open review items (--all: resolved ones too)")
    a.add_argument("--all", action="store_true", help="include resolved items")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=review_list)
    a = rp.add_parser("show", help="an item with its candidates and the incoming record (JSON)")
    a.add_argument("id", type=int)
    a.set_defaults(func=review_show)
    a = rp.add_parser("resolve", help="settle an item: keep, merge or separate (no option: dismiss, nothing changes)")
    a.add_argument("id", type=int)
    how = a.add_mutually_exclusive_group()
    how.add_argument("--keep", metavar="RECORD", help="the incoming holdings stay on (or move to) this candidate")
    how.add_argument("--merge", metavar="SURVIVOR",
                     help="merge the other candidates (or --records) into this one; they become deletions")
    how.add_argument("--separate", action="store_true",
                     help="not a match: a new record from the incoming record takes its holdings")
    a.add_argument("--records", action="append", metavar="ID[,ID]",
                   help="with --merge: only these candidates are merged away")
    a.add_argument("--override-protected", action="store_true",
                   help="with --merge: merge away records a cataloguer protected")
    a.add_argument("--by", metavar="NAME", help="who decides (recorded; default: the login name)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=review_resolve)

    rec = sub.add_parser("record", help="bibliographic records: show one, protect one a cataloguer upgraded")
    recs = rec.add_subparsers(dest="action", required=True)
    a = recs.add_parser("show", help="the record, its holdings, identifiers and provenance (JSON)")
    a.add_argument("id", type=int)
    a.add_argument("--marc", action="store_true", help="include the stored MARCXML")
    a.set_defaults(func=record_show)
    for action, text in (("protect", "no supplier record replaces it, whatever its encoding level"),
                         ("unprotect", "the encoding-level rules apply to it again")):
        a = recs.add_parser(action, help=text)
        a.add_argument("id", type=int)
        a.set_defaults(func=record_protect)
