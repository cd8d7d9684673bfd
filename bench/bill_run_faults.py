"""Bill run under faults: `issue_bills` killed midway (SIGKILL) and, optionally, PostgreSQL restarted during a
run; then run again. Checks that every customer with usage is billed exactly once, the numbers are gap-free,
and no half-written bill is ever visible (each bill's lines hold all of its customer's records).

    .venv/bin/python bench/bill_run_faults.py [--customers 20000] [--records 200000] [--kills 2] [--restart-db]

--restart-db restarts the PostgreSQL cluster mid-run (`pg_ctlcluster ... restart`): it disturbs everybody
using that server, so only use it on a machine of your own. FAULTS_DATABASE_URL defaults to
postgres://postgres@127.0.0.1:5432/be_billing_faults (dropped and recreated).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.billing_seed import MONTH, recreate_database, seed_prices, seed_usage, setup_django  # noqa: E402

DATABASE_URL = os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/be_billing_faults")
PERIOD = ["--from", MONTH[0].isoformat(), "--to", MONTH[1].isoformat()]


def bills_count() -> int:
    import psycopg

    with psycopg.connect(DATABASE_URL, connect_timeout=2) as conn:
        return conn.execute("SELECT count(*) FROM billing_bill").fetchone()[0]


def start_run(batch_size: int) -> subprocess.Popen:
    command = [sys.executable, "manage.py", "issue_bills", *PERIOD, "--batch-size", str(batch_size)]
    env = {**os.environ, "DATABASE_URL": DATABASE_URL}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_bills(run: subprocess.Popen, at_least: int, timeout: float = 600) -> bool:
    """Wait until *at_least* bills exist; False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.poll() is not None:
            return False
        try:
            if bills_count() >= at_least:
                return True
        except Exception:  # the database restarting
            pass
        time.sleep(0.05)
    raise SystemExit("timed out waiting for the run")


def check(expected_customers: int, *, complete: bool) -> list[str]:
    """Return the broken invariants (empty: all hold)."""
    import psycopg

    problems = []
    with psycopg.connect(DATABASE_URL) as conn:
        (bills, counter) = conn.execute(
            "SELECT (SELECT count(*) FROM billing_bill), (SELECT coalesce(sum(last), 0) FROM billing_billnumber)"
        ).fetchone()
        if bills != counter:
            problems.append(f"{bills} bills but the number counter says {counter}")
        numbers = [r[0] for r in conn.execute("SELECT number FROM billing_bill ORDER BY number")]
        sequence = sorted(int(n.split("-")[1]) for n in numbers)
        if sequence != list(range(1, len(sequence) + 1)):
            problems.append("numbers are not 1..N without gaps or duplicates")
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT customer_id FROM billing_bill GROUP BY 1 HAVING count(*) > 1) AS t"
        ).fetchone()[0]
        if twice:
            problems.append(f"{twice} customers billed more than once")
        half = conn.execute(
            """
            SELECT count(*) FROM billing_bill b
            WHERE (SELECT coalesce(sum(l.records), 0) FROM billing_billline l WHERE l.bill_id = b.id)
               <> (SELECT count(*) FROM records_datarecord r
                   WHERE r.customer_id = b.customer_id AND r.time_from >= b.period_from AND r.time_from < b.period_to)
            """
        ).fetchone()[0]
        if half:
            problems.append(f"{half} bills whose lines do not hold all of their customer's records")
        epochs = conn.execute(
            "SELECT count(*) FROM customers_customer c WHERE c.billing_epoch <> "
            "(SELECT count(*) FROM billing_bill b WHERE b.customer_id = c.id)"
        ).fetchone()[0]
        if epochs:
            problems.append(f"{epochs} customers whose billing epoch differs from their number of bills")
        if complete and bills != expected_customers:
            problems.append(f"{bills} bills, expected {expected_customers} (one per customer with usage)")
    return problems


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=2, help="How many runs to SIGKILL midway.")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--restart-db", action="store_true", help="Also restart PostgreSQL during a run.")
    args = parser.parse_args()

    print(f"database {DATABASE_URL} (recreated)")
    recreate_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    seed_prices()
    print(f"seeding {args.customers:,} customers and {args.records:,} records ...", flush=True)
    seed_usage(customers=args.customers, records=args.records, log=lambda m: print(m, flush=True))
    expected = min(args.customers, args.records)
    failures = []

    for kill in range(args.kills):
        target = expected * (kill + 1) // (args.kills + 2)
        run = start_run(args.batch_size)
        if wait_for_bills(run, target):
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
            print(f"run {kill + 1}: killed with SIGKILL at {bills_count():,} bills")
        else:
            print(f"run {kill + 1}: finished before the kill:\n{run.stdout.read()}")
        problems = check(expected, complete=False)
        print(f"  invariants after the kill: {problems or 'hold'}")
        failures += problems

    if args.restart_db:
        run = start_run(args.batch_size)
        if wait_for_bills(run, expected * (args.kills + 1) // (args.kills + 2)):
            print(f"restarting PostgreSQL at {bills_count():,} bills ...", flush=True)
            restart_postgres()
        output, _ = run.communicate()
        print(f"run during the restart exited {run.returncode}: {output.strip().splitlines()[-1:]}")
        problems = check(expected, complete=False)
        print(f"  invariants after the restart: {problems or 'hold'}")
        failures += problems

    run = start_run(args.batch_size)
    output, _ = run.communicate()
    print(f"final run exited {run.returncode}: {output.strip().splitlines()[-1:]}")
    rerun = start_run(args.batch_size)
    again, _ = rerun.communicate()
    print(f"re-run: {again.strip().splitlines()[-1:]}")
    problems = check(expected, complete=True)
    failures += problems
    if "Issued 0 bills" not in again:
        failures.append("the re-run issued bills")
    print(f"\nfinal: {bills_count():,} bills for {expected:,} customers with usage; invariants: {problems or 'hold'}")
    if failures:
        raise SystemExit(f"FAILED: {failures}")
    print("PASS: every customer billed exactly once, numbers gap-free, no half-written bill")


if __name__ == "__main__":
    main()
