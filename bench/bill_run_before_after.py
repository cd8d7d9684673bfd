"""Bill run, two checkouts side by side: `bill_run` of every customer of the same seeded database (DEBUG off,
as in production; a transaction per batch, as `issue_bills`), alternating old and new code round by round
(other load on the machine falls on both alike). Prints customers/s per run and checks that both issue the
same totals.

    .venv/bin/python bench/issue_bills.py --customers 10000 --records 1000000    # seed first (kept)
    .venv/bin/python bench/bill_run_before_after.py --before /path/to/old/checkout [--rounds 3]

BENCH_DATABASE_URL as for bench/issue_bills.py (default postgres://postgres@127.0.0.1:5432/be_billing_bench_run);
its bills are deleted before and after each run.
With --profile, each run also prints its 25 most expensive functions (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/be_billing_bench_run")

# Runs inside the checkout under test (its own code on sys.path), prints one JSON line last.
CHILD = r"""
import cProfile, io, json, os, pstats, sys, time
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
import django
django.setup()
from bench.billing_seed import MONTH
from billing.runs import bill_run

batch_size, profile = int(sys.argv[1]), sys.argv[2] == "1"
profiler = cProfile.Profile() if profile else None
began = time.monotonic()
if profiler:
    profiler.enable()
report = bill_run(start=MONTH[0], end=MONTH[1], batch_size=batch_size)
if profiler:
    profiler.disable()
seconds = time.monotonic() - began
if profiler:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(out.getvalue())
totals = {currency: str(amount) for currency, amount in sorted(report.totals.items())}
print(json.dumps({"seconds": seconds, "customers": report.customers, "issued": report.issued, "totals": totals}))
"""


def run(tree: Path, batch_size: int, profile: bool) -> dict:
    """Run the bill run of every customer with the code of *tree* (DEBUG off, as in production); return its
    figures."""
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "LOG_LEVEL": "WARNING", "DEBUG": "false"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(batch_size), "1" if profile else "0"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"bill run in {tree} failed:\n{done.stdout}\n{done.stderr}")
    *profile_lines, last = done.stdout.strip().splitlines()
    if profile:
        print("\n".join(profile_lines))
    return json.loads(last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the old checkout")
    parser.add_argument("--after", type=Path, default=ROOT, help="the new checkout (default: this one)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from bench.issue_bills import reset_bills

    rates: dict[str, list[float]] = {"before": [], "after": []}
    totals: dict[str, set[str]] = {"before": set(), "after": set()}
    for round_ in range(1, args.rounds + 1):
        for name, tree in (("before", args.before), ("after", args.after)):
            reset_bills(DATABASE_URL)
            figures = run(tree.resolve(), args.batch_size, args.profile)
            rate = figures["customers"] / figures["seconds"]
            rates[name].append(rate)
            totals[name].add(json.dumps(figures["totals"]))
            load = os.getloadavg()[0]
            print(
                f"round {round_} {name:6}: {figures['customers']:,} customers, {figures['issued']:,} bills in "
                f"{figures['seconds']:.1f} s = {rate:,.0f}/s (load {load:.1f}); totals {figures['totals']}",
                flush=True,
            )
    same = totals["before"] == totals["after"] and len(totals["after"]) == 1
    lo_b, hi_b, lo_a, hi_a = min(rates["before"]), max(rates["before"]), min(rates["after"]), max(rates["after"])
    print(
        f"before {lo_b:,.0f}-{hi_b:,.0f}/s, after {lo_a:,.0f}-{hi_a:,.0f}/s: x{lo_a / hi_b:.1f}-x{hi_a / lo_b:.1f}; "
        f"totals {'identical' if same else 'DIFFERENT'}"
    )
    reset_bills(DATABASE_URL)
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
