"""Load test (and, with --restart-db-at, the fault test) of the API under gunicorn on PostgreSQL.

    .venv/bin/python bench/load.py                       # 50 clients, 5 minutes
    .venv/bin/python bench/load.py --duration 60         # shorter
    .venv/bin/python bench/load.py --restart-db-at 60 --duration 120   # PostgreSQL restarted mid-load

It creates a fresh database, seeds groups and customers, starts gunicorn (DEBUG off), and runs N
concurrent clients mixing reads, creates (with Idempotency-Key), updates (half with If-Match),
membership changes and, when the schema lists `/api/v1/records/batch`, record batches. Afterwards it
counts every acknowledged write (each 201) in the database and prints throughput, p50/p95/p99, the
status mix, and a verdict. Exit status 1 on any 5xx (outside an injected outage), lost write,
transport error, or (fault mode) a failure that is not a clean 503 problem+json or a recovery slower
than 10 s after the database is back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")


@dataclass
class Sample:
    op: str
    start: float
    end: float
    status: int  # 0: transport error
    content_type: str = ""
    body: str = ""


@dataclass
class State:
    customers: list[str] = field(default_factory=list)
    external_ids: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    created_customers: list[str] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)
    created_memberships: list[tuple[str, str, str]] = field(default_factory=list)
    created_transaction_ids: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


def run(cmd: list[str], env: dict, **kwargs) -> str:
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, **kwargs).stdout


def prepare(args) -> tuple[dict, str]:
    """Create a fresh database, migrate, seed; return the server environment and an API key."""
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
    subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'], check=True)
    subprocess.run([*psql, f'CREATE DATABASE "{args.database}"'], check=True)
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
        "API_THROTTLE_RATE": "",
        "LOG_LEVEL": "ERROR",
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
    }
    run([PY, "manage.py", "migrate", "--noinput", "-v0"], env)
    seed = f"""
from billingengine.services import admin_user_ensure, api_key_create
from customers.services import customer_create
from groups.services import customer_set_groups, group_create
user, _ = admin_user_ensure(username="load", password=None)
groups = [group_create(name=f"Seed group {{i}}") for i in range({args.seed_groups})]
for i in range({args.seed_customers}):
    customer = customer_create(name=f"Seed customer {{i}}", external_id=f"SEED-{{i}}")
    customer_set_groups(customer=customer, group_ids=[groups[i % len(groups)].pk])
print(api_key_create(user=user, name="load")[1])
"""
    key = run([PY, "manage.py", "shell", "-c", seed], env).strip().splitlines()[-1]
    return env, key


class Load:
    def __init__(self, base: str, key: str, state: State, has_records: bool) -> None:
        self.base = base
        self.state = state
        self.has_records = has_records
        self.headers = {"Authorization": f"Bearer {key}"}
        ops = [
            ("list_customers", 15),
            ("get_customer", 15),
            ("list_groups", 5),
            ("group_members", 5),
            ("create_customer", 15),
            ("create_group", 5),
            ("update_customer", 15),
            ("add_member", 10),
            ("remove_member", 5),
        ]
        if has_records:
            ops.append(("record_batch", 10))
        self.ops = [name for name, _ in ops]
        self.weights = [weight for _, weight in ops]

    async def request(
        self, client: httpx.AsyncClient, op: str, method: str, path: str, **kwargs
    ) -> httpx.Response | None:
        start = time.monotonic()
        try:
            response = await client.request(
                method, self.base + path, headers=self.headers | kwargs.pop("headers", {}), **kwargs
            )
        except httpx.HTTPError as error:
            self.state.samples.append(Sample(op, start, time.monotonic(), 0, body=repr(error)))
            return None
        content_type = response.headers.get("content-type", "")
        body = response.text[:500] if response.status_code >= 500 else ""
        self.state.samples.append(Sample(op, start, time.monotonic(), response.status_code, content_type, body))
        return response

    async def client(self, client: httpx.AsyncClient, deadline: float) -> None:
        while time.monotonic() < deadline:
            op = random.choices(self.ops, self.weights)[0]
            await getattr(self, op)(client)

    async def list_customers(self, client):
        ordering = random.choice(["created_at", "-created_at", "name"])
        await self.request(client, "list_customers", "GET", f"/api/v1/customers?page_size=20&ordering={ordering}")

    async def get_customer(self, client):
        await self.request(client, "get_customer", "GET", f"/api/v1/customers/{random.choice(self.state.customers)}")

    async def list_groups(self, client):
        await self.request(client, "list_groups", "GET", "/api/v1/groups?page_size=50")

    async def group_members(self, client):
        group = random.choice(self.state.groups)
        await self.request(client, "group_members", "GET", f"/api/v1/groups/{group}/customers?page_size=20")

    async def create_customer(self, client):
        external_id = f"LOAD-{uuid.uuid4().hex[:12]}"
        body = {
            "name": f"Load customer {external_id}",
            "external_id": external_id,
            "address_country": "GB",
            "group_ids": [random.choice(self.state.groups)],
        }
        response = await self.request(
            client,
            "create_customer",
            "POST",
            "/api/v1/customers",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response is not None and response.status_code == 201:
            customer_id = response.json()["id"]
            self.state.created_customers.append(customer_id)
            self.state.customers.append(customer_id)
            self.state.external_ids.append(external_id)

    async def create_group(self, client):
        response = await self.request(
            client,
            "create_group",
            "POST",
            "/api/v1/groups",
            json={"name": f"Load group {uuid.uuid4().hex[:12]}"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response is not None and response.status_code == 201:
            group_id = response.json()["id"]
            self.state.created_groups.append(group_id)
            self.state.groups.append(group_id)

    async def update_customer(self, client):
        customer = random.choice(self.state.customers)
        headers = {}
        if random.random() < 0.5:
            read = await self.request(client, "get_customer", "GET", f"/api/v1/customers/{customer}")
            if read is None or read.status_code != 200:
                return
            headers["If-Match"] = read.headers["ETag"]
        await self.request(
            client,
            "update_customer",
            "PATCH",
            f"/api/v1/customers/{customer}",
            json={"tax_id": f"TAX{random.randrange(10**8)}"},
            headers=headers,
        )

    async def add_member(self, client):
        group, customer = random.choice(self.state.groups), random.choice(self.state.customers)
        response = await self.request(
            client, "add_member", "POST", f"/api/v1/groups/{group}/customers", json={"customer_id": customer}
        )
        if response is not None and response.status_code == 201:
            data = response.json()
            self.state.created_memberships.append((data["group_id"], data["customer_id"], data["joined_at"]))

    async def remove_member(self, client):
        # Mostly a membership this run added (a real removal), sometimes a random pair (usually a 404).
        if self.state.created_memberships and random.random() < 0.8:
            group, customer, _ = random.choice(self.state.created_memberships)
        else:
            group, customer = random.choice(self.state.groups), random.choice(self.state.customers)
        await self.request(client, "remove_member", "DELETE", f"/api/v1/groups/{group}/customers/{customer}")

    async def record_batch(self, client):
        now = datetime.now(UTC)
        records = [
            {
                "customer_external_id": random.choice(self.state.external_ids),
                "code": "SMS",
                "quantity": str(random.randrange(1, 5000)),
                "time_from": (now - timedelta(minutes=random.randrange(10000))).isoformat().replace("+00:00", "Z"),
                "transaction_id": f"load-{uuid.uuid4().hex}",
            }
            for _ in range(20)
        ]
        response = await self.request(
            client, "record_batch", "POST", "/api/v1/records/batch", json={"records": records}
        )
        if response is not None and response.status_code == 201:
            self.state.created_transaction_ids.extend(r["transaction_id"] for r in records)


async def load(base: str, key: str, state: State, has_records: bool, clients: int, duration: float) -> None:
    runner = Load(base, key, state, has_records)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        deadline = time.monotonic() + duration
        await asyncio.gather(*(runner.client(client, deadline) for _ in range(clients)))


def restart_postgres(at: float, outage: float, marks: dict, version: str) -> None:
    """At *at* seconds, stop PostgreSQL, wait *outage* seconds, start it; note the times in *marks*."""
    time.sleep(at)
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    marks["down"] = time.monotonic()
    subprocess.run([*ctl, "stop", "-m", "fast"], check=True)
    time.sleep(outage)
    subprocess.run([*ctl, "start"], check=True)
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
        time.sleep(0.1)
    marks["back"] = time.monotonic()


def verify(env: dict, state: State) -> dict[str, tuple[int, int]]:
    """Count every acknowledged write in the database: {kind: (acknowledged, found)}."""
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.apps import apps
    from django.db.models import Q

    from customers.models import Customer
    from groups.models import Group, Membership

    found = {
        "customers": (len(state.created_customers), Customer.objects.filter(pk__in=state.created_customers).count()),
        "groups": (len(state.created_groups), Group.objects.filter(pk__in=state.created_groups).count()),
    }
    memberships = 0
    for chunk in range(0, len(state.created_memberships), 500):
        query = Q()
        for group_id, customer_id, joined_at in state.created_memberships[chunk : chunk + 500]:
            query |= Q(group_id=group_id, customer_id=customer_id, joined_at=joined_at)
        memberships += Membership.objects.filter(query).count()
    found["memberships"] = (len(state.created_memberships), memberships)
    if state.created_transaction_ids:
        record_model = next(
            m for m in apps.get_models() if {"transaction_id", "code", "quantity"} <= {f.name for f in m._meta.fields}
        )
        count = sum(
            record_model.objects.filter(transaction_id__in=state.created_transaction_ids[i : i + 5000]).count()
            for i in range(0, len(state.created_transaction_ids), 5000)
        )
        found["records"] = (len(state.created_transaction_ids), count)
    return found


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300, help="Seconds of load.")
    parser.add_argument("--port", type=int, default=8122)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per gunicorn worker (gthread).")
    parser.add_argument("--database", default="billingengine_reliability_load")
    parser.add_argument("--seed-groups", type=int, default=20)
    parser.add_argument("--seed-customers", type=int, default=500)
    parser.add_argument("--restart-db-at", type=float, default=None, help="Restart PostgreSQL after this many s.")
    parser.add_argument("--outage", type=float, default=5.0, help="Seconds PostgreSQL stays down.")
    parser.add_argument("--pg-version", default="15")
    args = parser.parse_args()

    env, key = prepare(args)
    base = f"http://127.0.0.1:{args.port}"
    gunicorn = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "billingengine.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "--keep-alive",
            "75",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_lines: list[str] = []
    threading.Thread(target=lambda: stderr_lines.extend(gunicorn.stderr), daemon=True).start()
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {key}"}
        schema = httpx.get(f"{base}/api/schema?format=json", headers=headers, timeout=30).json()
        has_records = "/api/v1/records/batch" in schema["paths"]
        state = State()
        state.customers = [
            c["id"]
            for c in httpx.get(f"{base}/api/v1/customers?page_size=1000", headers=headers, timeout=30).json()["results"]
        ]
        state.external_ids = [f"SEED-{i}" for i in range(args.seed_customers)]
        state.groups = [
            g["id"]
            for g in httpx.get(f"{base}/api/v1/groups?page_size=1000", headers=headers, timeout=30).json()["results"]
        ]
        marks: dict[str, float] = {}
        fault = None
        if args.restart_db_at is not None:
            fault = threading.Thread(
                target=restart_postgres, args=(args.restart_db_at, args.outage, marks, args.pg_version)
            )
            fault.start()
        t0 = time.monotonic()
        asyncio.run(load(base, key, state, has_records, args.clients, args.duration))
        elapsed = time.monotonic() - t0
        if fault is not None:
            fault.join()
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)

    found = verify(env, state)
    samples = state.samples
    statuses = Counter(s.status for s in samples)
    problems: list[str] = []
    print(
        f"clients={args.clients} duration={elapsed:.0f}s gunicorn workers={args.workers}x{args.threads} threads "
        f"record batches={'yes' if has_records else 'no (no /api/v1/records/batch in the schema)'}"
    )
    print(f"requests={len(samples)} throughput={len(samples) / elapsed:.1f} req/s")
    ok = [s for s in samples if 0 < s.status < 500]
    lat = [1000 * (s.end - s.start) for s in ok]
    print(
        f"latency ms (non-5xx): p50={percentile(lat, 50):.1f} p95={percentile(lat, 95):.1f} "
        f"p99={percentile(lat, 99):.1f} max={max(lat, default=0):.1f}"
    )
    print("statuses:", dict(sorted(statuses.items())))
    for op in sorted({s.op for s in samples}):
        op_lat = [1000 * (s.end - s.start) for s in ok if s.op == op]
        print(
            f"  {op:16} n={len(op_lat):6} p50={percentile(op_lat, 50):7.1f} p95={percentile(op_lat, 95):7.1f} "
            f"p99={percentile(op_lat, 99):7.1f}"
        )
    for kind, (acknowledged, present) in found.items():
        print(f"acknowledged {kind}: {acknowledged}, in the database: {present}")
        if present != acknowledged:
            problems.append(f"lost {kind}: {acknowledged - present}")
    if statuses.get(0):
        problems.append(f"{statuses[0]} transport errors, e.g. {next(s.body for s in samples if s.status == 0)}")
    failures = [s for s in samples if s.status >= 500]
    if "down" in marks:
        down, back = marks["down"] - t0, marks["back"] - t0
        print(f"PostgreSQL stopped at t={down:.1f}s, back at t={back:.1f}s (outage {back - down:.1f}s)")
        unclean = [
            s
            for s in failures
            if s.status != 503
            or "application/problem+json" not in s.content_type
            or "Traceback" in s.body
            or "<html" in s.body.lower()
        ]
        if unclean:
            problems.append(f"{len(unclean)} unclean failures, e.g. {unclean[0]}")
        after = [s.start - marks["back"] for s in failures]
        recovery = max(0.0, max(after, default=0.0))
        first_ok = min((s.end - marks["back"] for s in ok if s.start >= marks["back"]), default=float("nan"))
        print(
            f"503 problem+json during the outage: {len(failures)}; last failing request started "
            f"{recovery:.2f}s after the database was back; first success {first_ok:.2f}s after"
        )
        if recovery > 10:
            problems.append(f"recovery took {recovery:.1f}s (> 10 s)")
        early = [s for s in failures if s.end < marks["down"]]
        if early:
            problems.append(f"{len(early)} 5xx before the outage")
    elif failures:
        problems.append(f"{len(failures)} 5xx responses, e.g. {failures[0]}")
    tracebacks = [line for line in stderr_lines if "Traceback" in line]
    if tracebacks:
        problems.append(f"gunicorn logged {len(tracebacks)} tracebacks")
    print("VERDICT:", "OK" if not problems else "FAILED: " + "; ".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
