"""Bill run under faults: `issue_bills` killed midway (SIGKILL) and, optionally, PostgreSQL restarted during a
run; then run again. Checks that every customer with usage is billed exactly once, the numbers are gap-free,
and no half-written bill is ever visible (each bill's lines hold all of its customer's records).

    .venv/bin/python bench/bill_run_faults.py [--customers 20000] [--records 200000] [--kills 2]
    .venv/bin/python bench/bill_run_faults.py --restart-db [--restart-modes fast,immediate] [--outage 3]

--private-cluster runs everything against a PostgreSQL instance of its own: `initdb` into a temporary
directory (from the newest /usr/lib/postgresql/*/bin, as the `postgres` OS user when run as root), started
with `pg_ctl` on a free port on 127.0.0.1, stopped and removed at the end, also on failure or Ctrl-C.
--restart-db implies it (the shared server is never restarted) and adds rounds after the SIGKILL one, each
from no bills: per mode, a run is hit at half of the bills by `pg_ctl stop -m <mode>` (fast: backends
terminated; immediate: a crash, recovered from WAL), the instance stays down --outage seconds and is started
again; the run must retry, say so, and finish with every customer billed. Then an outage round: the
instance is stopped for longer than the run's retries; the run must end with a clear CommandError (exit
code 1, no traceback), and a re-run completes the bills. Every round ends with a run to completion and a
re-run that must issue nothing, and the checks. --outage 0 is a plain `pg_ctl restart -m <mode>`.
Without --private-cluster the SIGKILL round runs on FAULTS_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/be_billing_faults, dropped and recreated).
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.billing_seed import MONTH, seed_prices, seed_usage, setup_django  # noqa: E402
from bench.databases import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/be_billing_faults")
PERIOD = ["--from", MONTH[0].isoformat(), "--to", MONTH[1].isoformat()]


def bills_count() -> int:
    import psycopg

    with psycopg.connect(DATABASE_URL, connect_timeout=2) as conn:
        return conn.execute("SELECT count(*) FROM billing_bill").fetchone()[0]


#: The issue_bills processes started, so that an interrupted script ends them.
RUNS: list[subprocess.Popen] = []
RETRY_MESSAGE = "reconnecting and retrying"
GAVE_UP_MESSAGE = "The database failed and did not come back"


def start_run(batch_size: int) -> subprocess.Popen:
    command = [sys.executable, "manage.py", "issue_bills", *PERIOD, "--batch-size", str(batch_size)]
    env = {**os.environ, "DATABASE_URL": DATABASE_URL}
    run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    RUNS.append(run)
    return run


def run_until(target: int, batch_size: int) -> tuple[subprocess.Popen, bool]:
    """Start a run and wait until *target* bills exist and the run has issued at least one of them itself
    (so a fault then hits it midway); (run, False) if it ended first."""
    before = bills_count()
    run = start_run(batch_size)
    return run, wait_for_bills(run, max(target, before + 1))


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


class PrivateCluster:
    """A throwaway PostgreSQL instance: initdb into a temporary directory, started on a free port of
    127.0.0.1 with trust authentication, stopped and removed by remove()."""

    def __init__(self) -> None:
        initdbs = glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if not initdbs:
            raise SystemExit("--private-cluster: no PostgreSQL binaries in /usr/lib/postgresql/*/bin")
        self.bin = Path(max(initdbs, key=lambda path: int(Path(path).parts[-3]))).parent
        self.dir = Path(tempfile.mkdtemp(prefix="bill-run-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = _free_port()
        # initdb and postgres refuse to run as root: then they run as the postgres OS user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/be_billing_faults"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, stdout=subprocess.DEVNULL)

    def ctl(self, *args: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120", *args)

    def create(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale", "C", "--no-sync",
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n")
        self.ctl("start")

    def stop(self, mode: str) -> None:
        self.ctl("stop", "-m", mode)

    def start(self) -> None:
        self.ctl("start")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "stop", "-m", "immediate"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def last_line(output: str) -> list[str]:
    return output.strip().splitlines()[-1:]


def retry_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if RETRY_MESSAGE in line]


def restarted_run(
    cluster: PrivateCluster, mode: str, outage: float, target: int, batch_size: int, expected: int
) -> list[str]:
    """Start a run, stop the instance with *mode* at *target* bills, start it after *outage* seconds; the run
    must retry, finish, and have billed all *expected* customers. Return the problems."""
    run, reached = run_until(target, batch_size)
    if not reached:
        return [f"restart ({mode}): the run finished before the restart: {last_line(run.stdout.read())}"]
    print(f"restart ({mode}): PostgreSQL stopped (-m {mode}) at {bills_count():,} bills, {outage:g} s down", flush=True)
    if outage:
        cluster.stop(mode)
        time.sleep(outage)
        cluster.start()
    else:
        cluster.ctl("restart", "-m", mode)
    output, _ = run.communicate()
    retries = retry_lines(output)
    print(f"  the run exited {run.returncode} after {len(retries)} retries: {last_line(output)}")
    for line in sorted(set(retries[:1] + retries[-1:]), key=retries.index):  # the first and the last
        print(f"  it logged: {line.strip()}")
    problems = check_operator_view(output) + check(expected, complete=True)
    if run.returncode != 0:
        problems.append(f"restart ({mode}): the run did not survive the restart (exit {run.returncode})")
    if not retries:
        problems.append(f"restart ({mode}): the run logged no retry")
    if "Issued" not in output:
        problems.append(f"restart ({mode}): the run printed no summary")
    return problems


def down_past_retries(cluster: PrivateCluster, target: int, batch_size: int) -> list[str]:
    """Start a run and stop the instance (-m immediate) at *target* bills until the run gives up; it must end
    with a clear CommandError and exit code 1. Return the problems."""
    run, reached = run_until(target, batch_size)
    if not reached:
        return [f"down: the run finished before the database went down: {last_line(run.stdout.read())}"]
    print(f"down: stopping PostgreSQL (-m immediate) at {bills_count():,} bills until the run gives up", flush=True)
    began = time.monotonic()
    cluster.stop("immediate")
    try:
        output, _ = run.communicate(timeout=300)
    finally:
        cluster.start()
    print(f"  the run exited {run.returncode} after {time.monotonic() - began:.0f} s: {last_line(output)}")
    problems = check_operator_view(output)
    if run.returncode != 1:
        problems.append(f"down: exit code {run.returncode}, expected 1")
    if GAVE_UP_MESSAGE not in output:
        problems.append("down: no clear message that the database did not come back")
    return problems


def check_operator_view(output: str) -> list[str]:
    return ["the run printed a traceback"] if "Traceback" in output else []


def main() -> None:
    global DATABASE_URL
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=2, help="How many runs to SIGKILL midway.")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--private-cluster", action="store_true", help="Run on a PostgreSQL instance of its own (removed after)."
    )
    parser.add_argument(
        "--restart-db", action="store_true", help="Also restart PostgreSQL during runs (implies --private-cluster)."
    )
    parser.add_argument("--restart-modes", default="fast,immediate", help="pg_ctl stop modes, one run each.")
    parser.add_argument("--outage", type=float, default=3.0, help="Seconds PostgreSQL stays down per restart.")
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.restart_modes.split(",") if mode.strip()] if args.restart_db else []
    if any(mode not in ("smart", "fast", "immediate") for mode in modes):
        parser.error("--restart-modes: smart, fast or immediate")

    began = time.monotonic()
    cluster = PrivateCluster() if args.private_cluster or args.restart_db else None
    # Ctrl-C raises KeyboardInterrupt; a SIGTERM does the same, so the cleanup below runs in both cases.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if cluster is not None:
            cluster.create()
            DATABASE_URL = cluster.url
            print(f"private PostgreSQL ({cluster.bin.parent.name}) in {cluster.dir}, port {cluster.port}")
        failures = scenario(args, modes, cluster)
    except KeyboardInterrupt:
        failures = ["interrupted"]
    finally:
        for run in RUNS:
            if run.poll() is None:
                run.kill()
                run.wait()
        if cluster is not None:
            cluster.remove()
            print(f"private PostgreSQL stopped and {cluster.dir} removed")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{time.monotonic() - began:.0f} s in all; load average {load}")
    if failures:
        raise SystemExit(f"FAILED: {failures}")
    print("PASS: every customer billed exactly once, numbers gap-free, no half-written bill")


def scenario(args: argparse.Namespace, modes: list[str], cluster: PrivateCluster | None) -> list[str]:
    """Seed, then per round: the faults, a final run and a re-run. Return the broken invariants and
    misbehaviours. The SIGKILL round comes first; each restart round and the outage round start again from
    no bills (a fault then hits a run at half of the customers)."""
    print(f"database {DATABASE_URL} (recreated)")
    recreate_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    seed_prices()
    print(f"seeding {args.customers:,} customers and {args.records:,} records ...", flush=True)
    seed_usage(customers=args.customers, records=args.records, log=lambda m: print(m, flush=True))
    expected = min(args.customers, args.records)
    failures = []

    points = ", ".join(f"{k + 1}/{args.kills + 2}" for k in range(args.kills))
    print(f"\nSIGKILL round: {args.kills} run(s) killed, at {points} of the bills", flush=True)
    for kill in range(args.kills):
        run, reached = run_until(expected * (kill + 1) // (args.kills + 2), args.batch_size)
        if reached:
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
            print(f"run {kill + 1}: killed with SIGKILL at {bills_count():,} bills")
        else:
            print(f"run {kill + 1}: finished before the kill:\n{run.stdout.read()}")
        problems = check(expected, complete=False)
        print(f"  invariants after the kill: {problems or 'hold'}")
        failures += problems
    failures += finish(expected, args.batch_size)

    for mode in modes:
        print(f"\nrestart round ({mode}): bills removed, PostgreSQL restarted during a run", flush=True)
        remove_bills()
        failures += restarted_run(cluster, mode, args.outage, expected // 2, args.batch_size, expected)
        failures += finish(expected, args.batch_size)
    if modes:
        print("\noutage round: bills removed, PostgreSQL down during a run for longer than its retries", flush=True)
        remove_bills()
        failures += down_past_retries(cluster, expected // 2, args.batch_size)
        problems = check(expected, complete=False)
        print(f"  invariants after the outage: {problems or 'hold'}")
        failures += problems
        failures += finish(expected, args.batch_size)
    return failures


def finish(expected: int, batch_size: int) -> list[str]:
    """Run to completion, then once more; check everything. Return the problems."""
    run = start_run(batch_size)
    output, _ = run.communicate()
    print(f"final run exited {run.returncode}: {last_line(output)}")
    rerun = start_run(batch_size)
    again, _ = rerun.communicate()
    print(f"re-run: {last_line(again)}")
    problems = check(expected, complete=True)
    if run.returncode or rerun.returncode:
        problems.append(f"the final run or the re-run failed (exit {run.returncode}, {rerun.returncode})")
    if "Issued 0 bills" not in again:
        problems.append("the re-run issued bills")
    print(f"{bills_count():,} bills for {expected:,} customers with usage; invariants: {problems or 'hold'}")
    return problems


def remove_bills() -> None:
    """Back to no bills: a bill run writes bills, lines, the number counter and the customers' epochs."""
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        conn.execute("TRUNCATE billing_billline, billing_bill, billing_billnumber")
        conn.execute("UPDATE customers_customer SET billing_epoch = 0 WHERE billing_epoch <> 0")


if __name__ == "__main__":
    main()
