"""Compare two checkouts of the project side by side: the same scenarios, alternating round by round.

    .venv/bin/python bench/before_after.py --before /path/to/old/checkout [--database billingengine_bench]

Both trees are served at once by gunicorn (as in bench/api_vs_baseline.py) on the same loaded database
(run that first), and each scenario alternates between them, so other load on the machine falls on both
alike. Prints requests/s, p50/p95 and the workers' CPU per request, before and after.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_vs_baseline as bench

SCENARIOS = ["retrieve", "filter_external_id", "list_first", "list_deep", "create", "put_groups", "add_member"]


class TreeServer(bench.Server):
    """A benchmark server running the code of another checkout."""

    def __init__(self, root: Path, url: str, port: int, workers: int) -> None:
        super().__init__(url, port, workers)
        self.root = root

    def __enter__(self):
        saved, bench.ROOT = bench.ROOT, self.root
        try:
            return super().__enter__()
        finally:
            bench.ROOT = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="Checkout of the older code (with bench/).")
    parser.add_argument("--database", default="billingengine_bench")
    parser.add_argument("--pg-url", default=bench.os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--workers", type=int, default=2 * (bench.os.cpu_count() or 1) + 1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    url = bench.database_url(args.pg_url, args.database)
    results: dict[str, dict[str, list]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory(prefix="billingengine-ab-") as tmp:
        fixture = bench.prepare(args.pg_url, args.database, args.customers, Path(tmp))
        after = TreeServer(bench.ROOT, url, args.port, args.workers)
        before = TreeServer(args.before.resolve(), url, args.port + 2, args.workers)
        with after, before:
            servers = {"before": before, "after": after}
            per_round = max(1, round(args.duration / args.rounds))
            for scenario in SCENARIOS:
                for server in servers.values():
                    bench.measure(server, scenario, fixture, args, args.warmup)
                for _ in range(args.rounds):
                    for which, server in servers.items():
                        data = bench.measure(server, scenario, fixture, args, per_round)
                        results[which].setdefault(scenario, []).append(data)
                for which in servers:
                    bench.show(f"{which} {scenario}", bench.combine(results[which][scenario]))
    print()
    print("| scenario | before req/s | after req/s | change | before p50 ms | after p50 ms | "
          "before CPU ms/req | after CPU ms/req |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in SCENARIOS:
        b, a = bench.combine(results["before"][scenario]), bench.combine(results["after"][scenario])
        print(
            f"| {scenario} | {b['rps']:.0f} | {a['rps']:.0f} | {a['rps'] / b['rps'] - 1:+.0%} | "
            f"{bench.ms(b['p50_us'])} | {bench.ms(a['p50_us'])} | "
            f"{b['server_cpu_ms_per_request']:.1f} | {a['server_cpu_ms_per_request']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
