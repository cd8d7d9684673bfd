"""Profile one API request in-process: queries it runs and where the Python time goes (cProfile).

    DATABASE_URL=postgres://.../billingengine_bench .venv/bin/python bench/profile_request.py \\
        --key KEY /api/v1/customers/ID [--repeat 200] [--method PUT --body '{...}']
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--key", required=True)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key: cumulative or tottime.")
    parser.add_argument("--no-profile", action="store_true", help="Only the queries and the wall time.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "x" * 60)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {args.key}")

    def once():
        kwargs = {"data": args.body, "content_type": "application/json"} if args.body else {}
        response = getattr(client, args.method.lower())(args.path, **kwargs)
        assert response.status_code < 400, (response.status_code, response.content[:500])
        return response

    once()
    with CaptureQueriesContext(connection) as queries:
        once()
    print(f"{len(queries)} queries:")
    for q in queries.captured_queries:
        print(f"  {q['time']}s  {q['sql'][:160]}")
    timings = []
    cpu_started = time.process_time()
    for _ in range(100):
        started = time.perf_counter()
        once()
        timings.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu_started) / 100
    timings.sort()
    print(
        f"per request (100 runs, no profiler): wall median {timings[50] * 1000:.2f} ms, "
        f"min {timings[0] * 1000:.2f} ms; "
        f"Python CPU {cpu * 1000:.2f} ms"
    )
    if args.no_profile:
        return
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.repeat):
        once()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
