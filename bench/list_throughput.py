"""Customer list throughput in-process: requests/s of GET /api/v1/customers?page_size=100, before and after.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billingengine_bench \\
        .venv/bin/python bench/list_throughput.py --before /path/to/older/checkout [--customers 10000]

Fills the database with demo customers (`seed_demo`, about 3 current memberships each) up to --customers,
then measures the application's own cost per request with Django's test client: no server, no network,
the full middleware, authentication (an API key), query and serialization path. With --before, every round
runs the older checkout and this one in turn, each in a fresh process on the same database, so other load on
the machine falls on both alike; the bodies of both are compared byte for byte. Prints each round, the
medians and the ratio after/before. Without --before it measures this checkout only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "list": "/api/v1/customers?page_size=100",
    "list_by_name": "/api/v1/customers?page_size=100&ordering=name",
    "group_members": "/api/v1/groups/{group}/customers?page_size=100",
}


def _django(tree: Path) -> None:
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")
    os.environ.update({"DEBUG": "false", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "testserver"})
    os.environ["API_THROTTLE_RATE"] = ""  # measuring, not throttling
    import django

    django.setup()


def prepare(customers: int) -> dict:
    """Seed up to *customers* demo customers; return an API key and a group with members."""
    _django(ROOT)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from billingengine.services import api_key_create
    from customers.models import Customer
    from groups.models import Group

    call_command("migrate", verbosity=0)
    missing = customers - Customer.objects.count()
    if missing > 0:
        call_command("seed_demo", customers=missing, groups=10, seed=42, verbosity=0)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-list", defaults={"is_staff": True, "is_superuser": True}
    )
    _, key = api_key_create(user=user, name="bench list throughput")
    group = Group.objects.with_customer_count().order_by("-customer_count", "id").first()
    return {"key": key, "group": str(group.pk), "customers": Customer.objects.count()}


def measure(tree: Path, key: str, group: str, seconds: float) -> dict:
    """Return {scenario: {"rps", "cpu_ms", "p50_ms", "sha256"}} for the checkout at *tree* (run in a fresh process)."""
    _django(tree)
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    out = {}
    for name, path in PATHS.items():
        path = path.format(group=group)
        first = client.get(path)
        assert first.status_code == 200, (first.status_code, first.content[:300])
        assert len(first.json()["results"]) == 100, "seed more customers: the page is not full"
        for _ in range(20):  # warm-up
            client.get(path)
        timings = []
        cpu_started = time.process_time()
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            t = time.perf_counter()
            client.get(path)
            timings.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - started
        out[name] = {
            "rps": len(timings) / elapsed,
            "cpu_ms": (time.process_time() - cpu_started) / len(timings) * 1000,
            "p50_ms": statistics.median(timings) * 1000,
            "sha256": hashlib.sha256(first.content).hexdigest(),
        }
    return out


def _run(tree: Path, fixture: dict, seconds: float) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), "--seconds", str(seconds)]
    env = {**os.environ, "BENCH_FIXTURE": json.dumps(fixture)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{tree}: measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="Checkout of the older code to compare with.")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="Per scenario, per round and checkout.")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fixture = json.loads(os.environ["BENCH_FIXTURE"])
        print(json.dumps(measure(args.child, fixture["key"], fixture["group"], args.seconds)))
        return 0
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database of its own (it gets seeded).")
    fixture = prepare(args.customers)
    trees = {"before": args.before.resolve(), "after": ROOT} if args.before else {"this": ROOT}
    print(f"{fixture['customers']:,} customers; {args.rounds} rounds of {args.seconds:g} s per scenario and checkout")
    results: dict[str, list[dict]] = {which: [] for which in trees}
    for round_ in range(1, args.rounds + 1):
        for which, tree in trees.items():
            result = _run(tree, fixture, args.seconds)
            results[which].append(result)
            figures = "  ".join(f"{name} {r['rps']:6.1f} req/s {r['cpu_ms']:5.1f} ms CPU" for name, r in result.items())
            print(f"round {round_} {which:>6}: {figures}", flush=True)
    print()
    compare = len(trees) > 1
    columns = [f"{w} req/s" for w in trees] + [f"{w} CPU ms/req" for w in trees]
    columns += ["req/s after/before", "CPU after/before"] if compare else []
    print("| scenario (medians) | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in PATHS:
        rps = {w: statistics.median(r[name]["rps"] for r in results[w]) for w in trees}
        cpu = {w: statistics.median(r[name]["cpu_ms"] for r in results[w]) for w in trees}
        cells = [f"{v:.1f}" for v in rps.values()] + [f"{v:.1f}" for v in cpu.values()]
        if compare:
            cells += [f"{rps['after'] / rps['before']:.3f}", f"{cpu['after'] / cpu['before']:.3f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if compare:
        differ = [name for name in PATHS if len({results[w][0][name]["sha256"] for w in trees}) != 1]
        if differ:
            raise SystemExit(f"The response bodies of before and after differ: {', '.join(differ)}")
        print("\nResponse bodies identical before and after (sha256 of the first page of each scenario).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
