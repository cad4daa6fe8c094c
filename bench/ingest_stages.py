"""Per-record Python of intake, stage by stage (issue 14): µs of CPU per record pair for each.

    python bench/ingest_stages.py                     # 5,000 real records (LoC + Libris), each with a holding
    python bench/ingest_stages.py --synthetic         # the synthetic records bench/ingest.py delivers
    python bench/ingest_stages.py --records 20000 --repeat 5
    python bench/ingest_stages.py --code /tmp/forvarv-main   # another checkout's code (before/after)

No database: each stage is the gateway's own code run over the whole delivery on its own, one
after the other, CPU time (process time), best of --repeat. The stages, in the order a record
meets them:

* scan at receipt: the well-formedness check and record count done while a body is received
  (before the 202; in the second process beside the storing of the body)
* parse: gateway.intake.prepare's reader (lxml pull parser, then Record objects)
* validate: protocols.marc.validate.check, bibliographic and holdings
* match: identifiers and match class and keys (prepare), then gateway.intake.matching deciding
  against the batch's candidate index as write_bibs builds it (every record new, as here)
* summarise: protocols.marc.summary.describe (what the SRU index and reports read)
* serialise: the stored MARCXML template (writer.to_marcxml, slots, xml_unsafe), the prepared
  records pickled to and from the second process, the templates filled when written
* report: the per-record problems as dicts and the result rows written with each batch (their
  COPY encoding, jsonb included, is asyncpg's and counted under write in bench/profile_ingest.py)
* all of preparing (prepare_bib/prepare_holding as the second process runs them: parse to
  template, compare with the sum of the stages above)

What PostgreSQL and the writes cost is measured by `bench/profile_ingest.py --real` (the load,
CPU per pair of each process) and `bench/ingest.py --real` (end to end).
"""

from __future__ import annotations

import argparse
import gc
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# --code DIR: the gateway and protocols packages of another checkout (the code before a change),
# for before/after figures from the same script; read before anything is imported
if "--code" in sys.argv:
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--code") + 1]).resolve()))

import benchdb  # noqa: E402  (bench/, beside this script)
import real_delivery  # noqa: E402  (bench/, beside this script)

from gateway.demo import synthetic  # noqa: E402
from gateway.intake import matching, parse_process, prepare  # noqa: E402
from gateway.intake.batches import Batches  # noqa: E402
from gateway.intake.write_bibs import _CandidateIndex  # noqa: E402
from protocols.marc import identifiers, summary, validate  # noqa: E402
from protocols.marc.record import Record  # noqa: E402
from protocols.marc.xmlreader import MarcXmlParser, ReadResult  # noqa: E402

try:
    from protocols.marc.xmlscan import MarcXmlScanner
except ImportError:  # --code of a checkout from before it
    from protocols.marc.xmlreader import MarcXmlScanner  # type: ignore[attr-defined, no-redef]

SLICE = parse_process.CHILD_SLICE


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def stages(payload: bytes, n: int, repeat: int) -> dict[str, float]:
    """CPU seconds of each stage over the whole payload."""
    pieces = [payload[i:i + SLICE] for i in range(0, len(payload), SLICE)]
    out: dict[str, float] = {}

    def scan() -> int:
        scanner = MarcXmlScanner()
        for p in pieces:
            scanner.feed(p)
        return scanner.close()

    out["scan at receipt"], _ = timed(scan, repeat)

    def parse() -> list[ReadResult]:
        parser = MarcXmlParser()
        got: list[ReadResult] = []
        for p in pieces:
            got.extend(parser.feed(p))
        got.extend(parser.close())
        return got

    out["parse"], results = timed(parse, repeat)
    records: list[Record] = [r.record for r in results if r.record is not None]
    bibs = [r for r in records if not r.is_holdings]
    holds = [r for r in records if r.is_holdings]

    def check() -> list[Record]:
        checked = [validate.check(r, kind="Bibliographic")[0] for r in bibs]
        for h in holds:
            validate.check(h, kind="Holdings")
        return checked

    out["validate"], checked = timed(check, repeat)

    def identify() -> list[tuple[list[tuple[str, str]], str]]:
        got = []
        for r in checked:
            ids = identifiers.extract(r)
            pairs = ids.pairs()
            own = ids.control_001
            if own and not ids.control_003:
                pairs.append(("sysno", identifiers.normalize_sysno(f"(BENCH){own}")))
            if own:
                pairs.append(("supplier", f"BENCH:{own}"))
            [f"{k}:{v}" for k, v in pairs]
            got.append((pairs, identifiers.match_class(r)))
        return got

    t_ids, keyed = timed(identify, repeat)

    def decide() -> None:
        for start in range(0, len(keyed), 250):
            index = _CandidateIndex()
            for rid, (pairs, mclass) in enumerate(keyed[start:start + 250], start):
                _kind, found = matching.candidates(pairs, mclass, index.lists)
                if not found:
                    cand = matching.Candidate(rid, mclass, "8", False, None)  # type: ignore[arg-type]
                    for pair in pairs:
                        index.append(pair, cand)

    t_decide, _ = timed(decide, repeat)
    out["match"] = t_ids + t_decide
    ids_of = [identifiers.extract(r) for r in checked]
    out["summarise"], _ = timed(lambda: [summary.describe(r, ids=i) for r, i in zip(checked, ids_of, strict=True)],
                                repeat)

    # what prepare hands on, made the gateway's way (a copy per record: templating changes it)
    def prepare_all() -> list[prepare.Prepared]:
        preparer = prepare.Preparer(prepare.Spec("marcxml", None, "BENCH", "FORVARV", frozenset()))
        got: list[prepare.Prepared] = []
        for p in pieces:
            got.extend(preparer.read(p))
        got.extend(preparer.close())
        return got

    out["(all of preparing)"], prepared = timed(prepare_all, repeat)

    def template() -> None:
        for r in checked:
            prepare._template(r)
        for h in holds:
            prepare._template(h)

    t_template, _ = timed(template, repeat)
    slices = [prepared[i:i + 80] for i in range(0, len(prepared), 80)]

    def wire() -> None:
        for s in slices:
            parse_process._from_wire(pickle.loads(pickle.dumps(parse_process._to_wire(s), protocol=5)))

    t_wire, _ = timed(wire, repeat)

    def fill() -> None:
        stamp = "20261204120000.0"
        for p in prepared:
            if p.template is not None:
                prepare.fill(p.template, {"001": "123456", "004": "123455", "005": stamp})

    t_fill, _ = timed(fill, repeat)
    out["serialise"] = t_template + t_wire + t_fill

    def report() -> None:
        state = Batches({}, 500)
        for p in prepared:
            state.add(p)
        rows = []
        for b in state.bibs:
            q = b.prepared
            rows.append((1, q.position, "bib", None, q.own_id, q.keys, b.outcome, b.record_id, None,
                         None, b.candidates, q.title, q.errors, q.warnings))
        for h in state.holdings:
            rows.append((1, h.position, "holding", h.parent_position, h.own_id, [], h.outcome, h.parent_record,
                         h.holding_id, h.sigel, [], None, h.errors, h.warnings))
        for r in read_problems:
            prepare.problems(r)

    read_problems = [r.problems for r in results]
    out["report"], _ = timed(report, repeat)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true", help="the synthetic records instead of the real ones")
    ap.add_argument("--code", type=Path, default=None,
                    help="measure the gateway and protocols packages of this checkout instead")
    args = ap.parse_args()
    n = args.records
    if args.synthetic:
        payload = synthetic.delivery(n, benchdb.SIGELS, seed=7)
    else:
        payload = real_delivery.delivery(n, benchdb.SIGELS)
    kind = "synthetic" if args.synthetic else "real (LoC + Libris)"
    print(f"code: {Path(prepare.__file__).resolve().parent.parent.parent}")
    print(f"{n} {kind} records with a holding each, {len(payload) / n / 1024:.2f} KB per pair; "
          f"CPU time per record pair, best of {args.repeat}:")
    # the collector as in the second process (gateway.intake.parse_process._child_init), where
    # preparing runs; between stages, what the previous one kept is freed
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    figures = stages(payload, n, args.repeat)
    total = sum(v for k, v in figures.items() if not k.startswith("("))
    for name, secs in figures.items():
        share = "" if name.startswith("(") else f"  {secs / total:5.1%}"
        print(f"  {name:<20} {secs / n * 1e6:7.1f} µs{share}")
    print(f"  {'sum of the stages':<20} {total / n * 1e6:7.1f} µs")


if __name__ == "__main__":
    main()
