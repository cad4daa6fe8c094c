"""Does compiling intake's Python with mypyc pay? The pure and the compiled code of one commit, alternated.

    python bench/compiled.py                          # bench/ingest_stages.py, 4,000 real pairs, 3 rounds
    python bench/compiled.py --rounds 5 --load        # also the load (bench/profile_ingest.py, CPU per process)
    python bench/compiled.py --modules gateway/intake/prepare.py protocols/marc/writer.py   # compile only these

Copies the committed code (`git archive HEAD`) twice into a temporary folder, compiles the modules
of preparing in one copy with mypyc (part of mypy, in the test extra; needs a C compiler and
Python's headers), then runs `bench/ingest_stages.py --code` on each copy in turn, round after
round (the machine is shared: alternating spreads its noise over both), and prints each figure's
median for both and their ratio. `--load` adds `bench/profile_ingest.py --real --no-stages
--gc-serve --parse-process` run in each copy (an embedded PostgreSQL each time): the CPU per
record pair of the loader, the second process and PostgreSQL. The result and the decision are in
docs/decisions.md ("Intake's Python compiled with mypyc").
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What preparing runs (bench/ingest_stages.py's imports): the MARCXML reader and scanner, the record,
#: validation, identifiers, summary, the writer, the characters XML forbids, preparing and matching
#: (and the ISO 2709 reader, which preparing imports).
MODULES = [
    "protocols/xmlchars.py",
    "protocols/marc/isoreader.py",
    "protocols/marc/problems.py",
    "protocols/marc/record.py",
    "protocols/marc/xmlreader.py",
    "protocols/marc/xmlscan.py",
    "protocols/marc/validate.py",
    "protocols/marc/identifiers.py",
    "protocols/marc/summary.py",
    "protocols/marc/writer.py",
    "gateway/intake/prepare.py",
    "gateway/intake/matching.py",
]

_STAGE = re.compile(r"^\s+(\(?[a-z][a-z ]*[a-z]\)?)\s+([0-9.]+) µs")
_LOAD = re.compile(r"this process's CPU [0-9.]+ s \(([0-9]+) µs per pair\), the second process's [0-9.]+ s "
                   r"\(([0-9]+) µs per pair\), PostgreSQL's [0-9.]+ s \(([0-9]+) µs per pair\)")


def copy_of_head(where: Path) -> Path:
    where.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    # the tests' data beside the checkout, as ../shared (bench/real_delivery.py reads it from there)
    (where.parent / "shared").unlink(missing_ok=True)
    (where.parent / "shared").symlink_to((ROOT.parent / "shared").resolve())
    return where


def compile_in(copy: Path, modules: list[str]) -> None:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=copy, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mypyc failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    built = [p for p in copy.rglob("*.so") if "build" not in p.relative_to(copy).parts]
    print(f"compiled {len(modules)} modules with mypyc in {time.monotonic() - t0:.0f} s ({len(built)} shared objects)")


def stages(copy: Path, records: int, repeat: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest_stages.py"), "--records", str(records),
                          "--repeat", str(repeat), "--code", str(copy)], check=True, capture_output=True,
                         text=True).stdout
    return {m.group(1): float(m.group(2)) for line in out.splitlines() if (m := _STAGE.match(line))}


def load(copy: Path, records: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "bench/profile_ingest.py", "--real", "--records", str(records),
                          "--no-stages", "--gc-serve", "--parse-process"], cwd=copy, check=True, capture_output=True,
                         text=True).stdout
    m = _LOAD.search(out)
    if m is None:
        sys.exit(f"no load figures in bench/profile_ingest.py's output:\n{out[-2000:]}")
    return {"load: the loader": float(m.group(1)), "load: the second process": float(m.group(2)),
            "load: PostgreSQL": float(m.group(3))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3, help="bench/ingest_stages.py's --repeat (best of)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of pure and compiled")
    ap.add_argument("--load", action="store_true", help="also the load against PostgreSQL, CPU per process")
    ap.add_argument("--load-records", type=int, default=10000)
    ap.add_argument("--modules", nargs="+", default=MODULES, help="the files to compile (paths in the checkout)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="forvarv-compiled-") as tmp:
        pure = copy_of_head(Path(tmp) / "pure")
        compiled = copy_of_head(Path(tmp) / "compiled")
        compile_in(compiled, args.modules)
        figures: dict[str, dict[str, list[float]]] = {"pure": {}, "compiled": {}}
        for n in range(args.rounds):
            for name, copy in (("pure", pure), ("compiled", compiled)) if n % 2 == 0 else (
                    ("compiled", compiled), ("pure", pure)):
                got = stages(copy, args.records, args.repeat)
                if args.load:
                    got |= load(copy, args.load_records)
                for key, value in got.items():
                    figures[name].setdefault(key, []).append(value)
            print(f"round {n + 1} of {args.rounds} done")
    print(f"\n{args.records} real record pairs; µs of CPU per pair, median of {args.rounds} rounds "
          f"(range), pure against compiled:")
    for key, values in figures["pure"].items():
        other = figures["compiled"].get(key)
        if not other:
            continue
        a, b = statistics.median(values), statistics.median(other)
        spread_a, spread_b = f"({min(values):.0f}–{max(values):.0f})", f"({min(other):.0f}–{max(other):.0f})"
        print(f"  {key:<26} {a:7.1f} {spread_a:<10} {b:7.1f} {spread_b:<10} compiled/pure {b / a:.2f}")


if __name__ == "__main__":
    main()
