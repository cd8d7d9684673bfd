"""Ingestion benchmark: batches of 1,000 data records over HTTP, against a raw psycopg COPY of the same rows.

Starts the app as in production (gunicorn, DEBUG off, PostgreSQL), creates customers and an API key in a
dedicated database, posts batches of 1,000 records from several client threads for at least 60 seconds,
prints the sustained records/s, then COPYs the same number of rows straight into the same table and prints
rows/s and the ratio.

    .venv/bin/python bench/ingest.py [--seconds 60] [--workers 3] [--clients 4]

BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/billingengine_bench_ingest (dropped and
created afresh). The request bodies are encoded before the clock starts, so the figure is the server's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billingengine_bench_ingest")
BATCH = 1000
CUSTOMERS = 2000
CODES = ("SMS", "CALL_MIN", "DATA_MB", "API_CALL", "STORAGE_GB")


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def make_bodies(count: int, seed: int, spread_hours: int = 744) -> list[bytes]:
    """Return *count* JSON batch bodies of BATCH records with unique transaction_ids, their time_from spread
    over *spread_hours* (a month by default: nearly every record then opens a new rollup row, the worst case;
    live feeds send the last hour or so, which mostly updates rollup rows)."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    bodies = []
    for b in range(count):
        records = []
        for i in range(BATCH):
            moment = start + timedelta(seconds=rng.randrange(spread_hours * 3600))
            records.append(
                {
                    "customer_external_id": f"EXT-CU-{rng.randrange(CUSTOMERS):06d}",
                    "code": rng.choice(CODES),
                    "quantity": rng.choice((rng.randrange(1, 5000), f"{rng.randrange(1, 10**6) / 1000:.3f}")),
                    "time_from": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "transaction_id": f"bench-{seed}-{b}-{i}",
                }
            )
        bodies.append(json.dumps({"records": records}).encode())
    return bodies


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz")


def post_batches(
    port: int, key: str, bodies: list[bytes], clients: int, seconds: float, *, all_bodies: bool = False
) -> tuple[int, int, float]:
    """Post bodies from *clients* threads until *seconds* have passed (with *all_bodies*: until every body is
    posted); return (created, batches, elapsed)."""
    lock = threading.Lock()
    state = {"next": 0, "created": 0, "batches": 0, "error": None}
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (all_bodies or time.monotonic() < stop_at) and state["error"] is None:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(bodies):
                if not all_bodies:
                    state["error"] = "ran out of pre-encoded bodies; raise --max-rate"
                return
            conn.request("POST", "/api/v1/records/batch", body=bodies[i], headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 201:
                state["error"] = f"{response.status}: {data[:500]!r}"
                return
            created = json.loads(data)["created"]
            with lock:
                state["created"] += created
                state["batches"] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    if state["error"]:
        raise SystemExit(f"benchmark failed: {state['error']}")
    return state["created"], state["batches"], elapsed


def copy_rows(bodies: list[bytes], customers: list[tuple]) -> tuple[int, float]:
    """COPY the records of *bodies* (as the API stored them) into the records table; return (rows, seconds).

    The transaction_ids get a suffix, as the API already stored the originals.
    """
    import psycopg

    from records.models import DataRecord, uuid7s

    by_external = {c[1]: c for c in customers}
    now = datetime.now(UTC)
    rows = []
    for body in bodies:
        for record in json.loads(body)["records"]:
            customer = by_external[record["customer_external_id"]]
            rows.append(
                [
                    None,
                    customer[0],
                    customer[1],
                    customer[2],
                    record["code"],
                    Decimal(str(record["quantity"])),
                    datetime.fromisoformat(record["time_from"]),
                    None,
                    record["transaction_id"] + "-copy",
                    now,
                ]
            )
    for row, new_id in zip(rows, uuid7s(len(rows)), strict=True):
        row[0] = new_id
    columns = (
        "id, customer_id, customer_external_id, customer_name, code, quantity, time_from, time_to, "
        "transaction_id, created_at"
    )
    with psycopg.connect(DATABASE_URL) as conn:
        began = time.monotonic()
        with conn.cursor() as cur, cur.copy(f"COPY {DataRecord._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows), time.monotonic() - began


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes *pids* have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def server_pids(master: int) -> list[int]:
    """Return the gunicorn workers of *master* and the PostgreSQL backends serving the bench database."""
    import psycopg

    workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    with psycopg.connect(DATABASE_URL) as conn:
        backends = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    return workers + backends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="How long to post (at least 60 for the figure).")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes.")
    parser.add_argument("--clients", type=int, default=4, help="Client threads posting concurrently.")
    parser.add_argument("--port", type=int, default=8113)
    parser.add_argument("--spread-hours", type=int, default=744, help="Hours the records' time_from spans.")
    parser.add_argument("--max-rate", type=int, default=25_000, help="Records/s the pre-encoded bodies can cover.")
    args = parser.parse_args()

    env = {
        "DATABASE_URL": DATABASE_URL,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "billingengine.settings",
    }
    print(f"database {DATABASE_URL} (recreated)")
    recreate_database(DATABASE_URL)
    setup_django(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from billingengine.services import admin_user_ensure, api_key_create
    from customers.models import Customer

    Customer.objects.bulk_create(
        Customer(name=f"Bench Customer {i}", external_id=f"EXT-CU-{i:06d}") for i in range(CUSTOMERS)
    )
    user, _ = admin_user_ensure(username="bench", password=secrets.token_urlsafe(16))
    _, key = api_key_create(user=user, name="bench")
    customers = list(Customer.objects.values_list("id", "external_id", "name"))

    batches_needed = int(args.max_rate * args.seconds / BATCH) + 10
    print(f"encoding {batches_needed} batch bodies of {BATCH} records ...", flush=True)
    bodies = make_bodies(batches_needed, seed=1, spread_hours=args.spread_hours)

    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "billingengine.wsgi",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{args.port}",
        "--timeout",
        "120",
    ]
    print("starting:", " ".join(command), flush=True)
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        wait_for(args.port, server)
        # Warm up: every worker opens its connection and imports everything before the clock starts.
        post_batches(args.port, key, make_bodies(args.workers * 4, seed=2), args.clients, 0, all_bodies=True)
        print(
            f"posting for {args.seconds:.0f} s from {args.clients} client threads "
            f"(time_from spread over {args.spread_hours} h) ...",
            flush=True,
        )
        pids = server_pids(server.pid)
        cpu_before = cpu_seconds(pids)
        created, batches, elapsed = post_batches(args.port, key, bodies, args.clients, args.seconds)
        cpu_used = cpu_seconds(pids) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    api_rate = created / elapsed
    print(f"API:  {created:,} records in {batches:,} batches of {BATCH} in {elapsed:.1f} s = {api_rate:,.0f} records/s")

    copied, seconds = copy_rows(bodies[:batches], customers)
    copy_rate = copied / seconds
    print(
        f"      server CPU (gunicorn workers + their PostgreSQL backends): {cpu_used:.1f} s = "
        f"{created / cpu_used:,.0f} records per CPU-second; load average now {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores (other work on the machine slows the wall-clock figure, not this one)"
    )
    print(f"COPY: the same {copied:,} rows in {seconds:.1f} s = {copy_rate:,.0f} rows/s (raw psycopg, no rollup)")
    print(f"ratio API/COPY = {api_rate / copy_rate:.2f}  (goal: API >= 10,000 records/s)")


if __name__ == "__main__":
    main()
