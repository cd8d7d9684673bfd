"""Bill run, two checkouts side by side: `bill_run` of every customer of the same seeded database (DEBUG off,
as in production; a transaction per batch, as `issue_bills`), alternating old and new code round by round
(other load on the machine falls on both alike). Prints customers/s per run and checks that both issue the
same totals. Also prints each run's CPU time, in this process and in its PostgreSQL backend (read from /proc:
the server must run on this machine): customers per CPU second is what the run would reach with a core to
itself, whatever the load (client and server work in turn, never at once).

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
from django.db import connection
from bench.billing_seed import MONTH
from billing.runs import bill_run

def server_cpu():
    # CPU seconds of this connection's PostgreSQL backend (same machine), from /proc; None if unreadable.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), pid
    except OSError:
        return None, None

batch_size, profile = int(sys.argv[1]), sys.argv[2] == "1"
profiler = cProfile.Profile() if profile else None
server_before, pid_before = server_cpu()
began, cpu = time.monotonic(), time.process_time()
if profiler:
    profiler.enable()
report = bill_run(start=MONTH[0], end=MONTH[1], batch_size=batch_size)
if profiler:
    profiler.disable()
seconds, cpu = time.monotonic() - began, time.process_time() - cpu
server_after, pid_after = server_cpu()
server = server_after - server_before if server_before is not None and pid_after == pid_before else None
if profiler:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(out.getvalue())
totals = {currency: str(amount) for currency, amount in sorted(report.totals.items())}
print(json.dumps({"seconds": seconds, "cpu": cpu, "server_cpu": server, "customers": report.customers,
                  "issued": report.issued, "totals": totals}))
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
    cpu_rates: dict[str, list[float]] = {"before": [], "after": []}
    totals: dict[str, set[str]] = {"before": set(), "after": set()}
    for round_ in range(1, args.rounds + 1):
        for name, tree in (("before", args.before), ("after", args.after)):
            reset_bills(DATABASE_URL)
            figures = run(tree.resolve(), args.batch_size, args.profile)
            rate = figures["customers"] / figures["seconds"]
            rates[name].append(rate)
            cpu = figures["cpu"] + (figures["server_cpu"] or 0)
            cpu_rates[name].append(figures["customers"] / cpu)
            totals[name].add(json.dumps(figures["totals"]))
            load = os.getloadavg()[0]
            print(
                f"round {round_} {name:6}: {figures['customers']:,} customers, {figures['issued']:,} bills in "
                f"{figures['seconds']:.1f} s = {rate:,.0f}/s (load {load:.1f}); CPU {figures['cpu']:.1f} s here + "
                f"{figures['server_cpu'] or 0:.1f} s in PostgreSQL = {figures['customers'] / cpu:,.0f} customers per "
                f"CPU second; totals {figures['totals']}",
                flush=True,
            )
    for name in ("before", "after"):
        print(
            f"{name}: {min(cpu_rates[name]):,.0f}-{max(cpu_rates[name]):,.0f} customers per CPU second "
            "(client + server)"
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
