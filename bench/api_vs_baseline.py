"""Benchmark the customer API against a plain-Django baseline at 1,000,000 customers, side by side.

    make bench            (or: .venv/bin/python bench/api_vs_baseline.py)

Loads the data sets if needed (bench/load_customers.py: 1,000,000 customers and, for the flatness check, 10,000),
serves the project as in production (gunicorn with 2 x cores + 1 sync workers, DEBUG off, persistent
database connections) with the baseline views mounted beside it (bench/settings.py), drives each
scenario with wrk for a fixed time, and prints requests/s, p50/p95/p99, the API/baseline ratios and
the goals. A second baseline, the raw psycopg WSGI app (bench/raw_app.py: the same authentication,
reads and writes with psycopg alone, no framework), runs in its own gunicorn with the same settings,
and its ratios are printed beside the plain-Django ones. Needs PostgreSQL (PG_URL, default
postgres://postgres@127.0.0.1:5432) and wrk. `--ratios-only` runs just retrieve, first page and
create against both baselines (a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LUA = ROOT / "bench" / "wrk" / "scenario.lua"

# (scenario, label, baseline scenario or None)
SCENARIOS_BIG = [
    ("retrieve", "GET /customers/{id}", None),
    ("baseline_retrieve", "baseline: retrieve", None),
    ("raw_retrieve", "raw psycopg: retrieve", None),
    ("filter_external_id", "GET /customers?external_id=", None),
    ("list_first", "GET /customers?page_size=100 (first page)", None),
    ("baseline_list", "baseline: first 100", None),
    ("raw_list", "raw psycopg: first 100", None),
    ("list_deep", "GET /customers?page_size=100&cursor= (deep)", None),
    ("create", "POST /customers", None),
    ("baseline_create", "baseline: create", None),
    ("raw_create", "raw psycopg: create", None),
    ("put_groups", "PUT /customers/{id} with group_ids", None),
    ("add_member", "POST /groups/{id}/customers", None),
]
SCENARIOS_SMALL = ["list_first", "list_deep"]
# Scenarios run interleaved round by round within a group: each API endpoint beside its baseline.
GROUPS = [
    ["retrieve", "baseline_retrieve", "raw_retrieve"],
    ["list_first", "baseline_list", "raw_list", "list_deep", "filter_external_id"],
    ["create", "baseline_create", "raw_create"],
    ["put_groups", "add_member"],
]
RATIOS = [
    ("retrieve", "baseline_retrieve", 0.60),
    ("create", "baseline_create", 0.50),
    ("list_first", "baseline_list", 0.40),
]
# API / raw psycopg app (requests/s); only the retrieve has a goal, list and create are reported.
RAW_RATIOS = [
    ("retrieve", "raw_retrieve", 0.35),
    ("create", "raw_create", None),
    ("list_first", "raw_list", None),
]
# What --ratios-only runs: each endpoint beside its two baselines.
RATIO_GROUPS = [
    ["retrieve", "baseline_retrieve", "raw_retrieve"],
    ["list_first", "baseline_list", "raw_list"],
    ["create", "baseline_create", "raw_create"],
]


def log(message: str) -> None:
    print(message, flush=True)


def database_url(pg_url: str, name: str) -> str:
    return f"{pg_url.rstrip('/')}/{name}"


def ensure_database(pg_url: str, name: str) -> None:
    """Create database *name* unless it exists."""
    import psycopg

    with psycopg.connect(database_url(pg_url, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(pg_url: str, name: str, customers: int, workdir: Path) -> Path:
    """Load *customers* into database *name* (if not loaded) and write the wrk fixture file; return it."""
    ensure_database(pg_url, name)
    fixture_json = workdir / f"{name}.json"
    env = {**os.environ, "DATABASE_URL": database_url(pg_url, name), "DEBUG": "false", "SECRET_KEY": SECRET_KEY}
    subprocess.run(
        [
            PYTHON,
            str(ROOT / "bench" / "load_customers.py"),
            "--customers",
            str(customers),
            "--fixture",
            str(fixture_json),
        ],
        env=env,
        check=True,
        timeout=3600,
    )
    data = json.loads(fixture_json.read_text())
    lines = [f"api_key {data['api_key']}", f"cursor {data['deep_cursor']}"]
    lines += [f"customer {c}" for c in data["customer_ids"]]
    lines += [f"external_id {e}" for e in data["external_ids"]]
    lines += [f"group {g}" for g in data["group_ids"]]
    fixture = workdir / f"{name}.txt"
    fixture.write_text("\n".join(lines) + "\n")
    return fixture


SECRET_KEY = secrets.token_urlsafe(50)


class Server:
    """gunicorn serving bench.settings (production settings plus the baseline views) on one database.

    With `app="bench.raw_app:application"` it serves the raw psycopg app instead, with the same settings.
    """

    def __init__(self, url: str, port: int, workers: int, app: str = "billingengine.wsgi") -> None:
        self.url, self.port, self.workers, self.app = url, port, workers, app
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": self.url,
            "DEBUG": "false",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "60"),
            "LOG_LEVEL": "WARNING",
            # One key carries the whole load here, so per-key throttling (where the project has it) is off.
            "API_THROTTLE_RATE": "",
        }
        gunicorn = Path(PYTHON).parent / "gunicorn"
        command = [str(gunicorn), self.app, "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(self.workers), "--log-level", "warning", "--backlog", "2048"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:  # e.g. the port is taken by another server
                raise SystemExit(f"gunicorn exited on start (is port {self.port} free?)")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    if response.status == 200 and self.process.poll() is None:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise SystemExit(f"gunicorn did not answer on port {self.port} within 30 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def server_cpu_seconds(master_pid: int) -> float:
    """Return the CPU time (user + system) used so far by the gunicorn master's worker processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # fields[1] is the parent pid; utime, stime are fields 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def wrk(port: int, scenario: str, fixture: Path, *, seconds: float, connections: int, delay_ms: float = 0) -> dict:
    """Run one wrk scenario for *seconds* and return its figures."""
    env = {
        **os.environ,
        "BENCH_SCENARIO": scenario,
        "BENCH_FIXTURE": str(fixture),
        "BENCH_DELAY_MS": str(int(delay_ms)),
        "BENCH_RUN": f"{int(time.time())}{secrets.token_hex(3)}",
    }
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(LUA)]
    command.append(f"http://127.0.0.1:{port}")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if result.stderr.strip():
        log("    " + result.stderr.strip().replace("\n", "\n    "))
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed for {scenario}:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def measure(
    server: Server, scenario: str, fixture: Path, args, seconds: int, delay_ms: float = 0, connections: int = 0
) -> dict:
    """Run *scenario* for *seconds*; add the workers' CPU per request and the machine's load average."""
    cpu_before = server_cpu_seconds(server.process.pid)
    connections = connections or args.connections
    data = wrk(server.port, scenario, fixture, seconds=seconds, connections=connections, delay_ms=delay_ms)
    data["server_cpu_ms_per_request"] = (
        (server_cpu_seconds(server.process.pid) - cpu_before) * 1000 / max(data["requests"], 1)
    )
    data["load_average"] = os.getloadavg()[0]
    return data


def combine(rounds: list[dict]) -> dict:
    """Return the figures of several rounds of one scenario: totals for throughput, medians for the rest."""
    import statistics

    requests = sum(r["requests"] for r in rounds)
    duration = sum(r["duration_us"] for r in rounds)
    out = {"requests": requests, "duration_us": duration, "rps": requests / (duration / 1e6), "rounds": rounds}
    for key in ("p50_us", "p95_us", "p99_us", "server_cpu_ms_per_request", "load_average"):
        out[key] = statistics.median(r[key] for r in rounds)
    out["non_2xx"] = sum(r["non_2xx"] for r in rounds)
    return out


def show(scenario: str, data: dict) -> None:
    log(
        f"  {scenario:<20} {data['rps']:8.1f} req/s   p50 {data['p50_us'] / 1000:7.2f} ms   "
        f"p95 {data['p95_us'] / 1000:7.2f} ms   p99 {data['p99_us'] / 1000:7.2f} ms   "
        f"server CPU {data['server_cpu_ms_per_request']:6.2f} ms/req   load {data['load_average']:.1f}   "
        f"errors {data['non_2xx']}"
    )


def run_group(server: Server, scenarios: list[str], fixture: Path, args, raw_server: Server | None = None) -> dict:
    """Run *scenarios* interleaved, round after round, so a change in the machine's background load
    falls on each of them alike (API and baseline are compared under the same conditions).
    Scenarios named `raw_*` go to *raw_server*."""
    rounds: dict[str, list[dict]] = {s: [] for s in scenarios}
    per_round = max(1, round(args.duration / args.rounds))

    def target(scenario: str) -> Server:
        return raw_server if scenario.startswith("raw_") else server

    for scenario in scenarios:
        if args.warmup:
            measure(target(scenario), scenario, fixture, args, args.warmup)
    for _ in range(args.rounds):
        for scenario in scenarios:
            rounds[scenario].append(measure(target(scenario), scenario, fixture, args, per_round))
    results = {}
    for scenario in scenarios:
        results[scenario] = combine(rounds[scenario])
        show(scenario, results[scenario])
    return results


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def report(results: dict, args, machine: str) -> tuple[str, bool]:
    """Return the markdown report (tables and goals) and whether every goal is met."""
    big, small = results["big"], results["small"]
    lines = [f"Machine: {machine}", ""]
    lines += [
        f"### At {args.customers:,} customers ({args.duration:g} s per scenario, {args.connections} connections)",
        "",
    ]
    lines += [
        "| scenario | requests/s | p50 ms | p95 ms | p99 ms | server CPU ms/req | load avg | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, label, _ in SCENARIOS_BIG:
        if scenario not in big:  # --ratios-only
            continue
        d = big[scenario]
        lines.append(
            f"| {label} | {d['rps']:.0f} | {ms(d['p50_us'])} | {ms(d['p95_us'])} | {ms(d['p99_us'])} | "
            f"{d['server_cpu_ms_per_request']:.1f} | {d['load_average']:.1f} | {d['non_2xx']} |"
        )
    ok = True
    lines += ["", "### API vs baseline (requests/s, same run)", ""]
    lines += [
        "| endpoint | API req/s | baseline req/s | ratio | goal | met | CPU/req ratio (baseline/API) |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for api, base, goal in RATIOS:
        ratio = big[api]["rps"] / big[base]["rps"]
        cpu_ratio = big[base]["server_cpu_ms_per_request"] / big[api]["server_cpu_ms_per_request"]
        met = ratio >= goal
        ok &= met
        lines.append(
            f"| {api} | {big[api]['rps']:.0f} | {big[base]['rps']:.0f} | {ratio:.0%} | >= {goal:.0%} | "
            f"{'yes' if met else 'NO'} | {cpu_ratio:.0%} |"
        )
    lines += ["", "### API vs raw psycopg WSGI app (requests/s, same run; bench/raw_app.py)", ""]
    lines += [
        "| endpoint | API req/s | raw req/s | API/raw | plain Django/raw | API/plain Django | goal | met | "
        "API CPU ms/req | raw CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    plain = {api: base for api, base, _ in RATIOS}
    for api, raw, goal in RAW_RATIOS:
        ratio = big[api]["rps"] / big[raw]["rps"]
        met = goal is None or ratio >= goal
        ok &= met
        lines.append(
            f"| {api} | {big[api]['rps']:.0f} | {big[raw]['rps']:.0f} | {ratio:.0%} | "
            f"{big[plain[api]]['rps'] / big[raw]['rps']:.0%} | {big[api]['rps'] / big[plain[api]]['rps']:.0%} | "
            f"{f'>= {goal:.0%}' if goal else '-'} | {'-' if goal is None else 'yes' if met else 'NO'} | "
            f"{big[api]['server_cpu_ms_per_request']:.1f} | {big[raw]['server_cpu_ms_per_request']:.1f} |"
        )
    if args.ratios_only:
        return "\n".join(lines) + "\n", ok
    lines += [
        "",
        f"### List latency flat with size ({args.small_customers:,} vs {args.customers:,} customers, "
        "page_size=100, 1 connection, sizes alternating)",
        "",
    ]
    lines += [
        "| page | p50 small ms | p50 big ms | big/small | goal | met | p95 small ms | p95 big ms |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for scenario in SCENARIOS_SMALL:
        s, b = small[f"{scenario}_1c"], big[f"{scenario}_1c"]
        factor = b["p50_us"] / s["p50_us"]
        met = factor <= 1.5
        ok &= met
        lines.append(
            f"| {scenario} | {ms(s['p50_us'])} | {ms(b['p50_us'])} | {factor:.2f}x | <= 1.5x | "
            f"{'yes' if met else 'NO'} | {ms(s['p95_us'])} | {ms(b['p95_us'])} |"
        )
    half = big["retrieve_half"]
    met = half["p95_us"] < 50_000
    ok &= met
    lines += ["", "### Retrieve at half the maximum throughput", ""]
    lines += [
        "| target req/s | achieved req/s | p50 ms | p95 ms | p99 ms | goal | met |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    lines.append(
        f"| {big['retrieve']['rps'] / 2:.0f} | {half['rps']:.0f} | {ms(half['p50_us'])} | {ms(half['p95_us'])} | "
        f"{ms(half['p99_us'])} | p95 < 50 ms | {'yes' if met else 'NO'} |"
    )
    return "\n".join(lines) + "\n", ok


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import psycopg

    python = sys.version.split()[0]
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {python}, psycopg {psycopg.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--small-customers", type=int, default=10_000, help="Size for the flatness comparison.")
    parser.add_argument("--database", default="billingengine_bench", help="Database name (the small one gets _small).")
    parser.add_argument("--pg-url", default=os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers.")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections.")
    parser.add_argument("--duration", type=int, default=10, help="Seconds measured per scenario.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of warm-up per scenario (not measured).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds the duration is split into (interleaved).")
    parser.add_argument("--json", type=Path, help="Also write the raw figures to this file.")
    parser.add_argument(
        "--ratios-only",
        action="store_true",
        help="Only retrieve, first page and create beside both baselines (no flatness, half load, other scenarios).",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")

    machine = machine_description()
    log(f"Machine: {machine}; gunicorn workers: {args.workers}")
    results: dict[str, dict] = {"small": {}, "big": {}}
    with tempfile.TemporaryDirectory(prefix="billingengine-bench-") as tmp:
        workdir = Path(tmp)
        plan = [
            ("small", f"{args.database}_small", args.small_customers),
            ("big", args.database, args.customers),
        ]
        # As in production: static files collected (WhiteNoise serves them from STATIC_ROOT).
        subprocess.run(
            [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env={**os.environ, "DEBUG": "false", "SECRET_KEY": SECRET_KEY},
            check=True,
        )
        if args.ratios_only:
            plan = plan[1:]
        fixtures = {which: prepare(args.pg_url, name, size, workdir) for which, name, size in plan}
        big_url = database_url(args.pg_url, args.database)
        big_server = Server(big_url, args.port, args.workers)
        raw_server = Server(big_url, args.port + 2, args.workers, app="bench.raw_app:application")
        if args.ratios_only:
            with big_server, raw_server:
                log(f"== {args.customers:,} customers (database {args.database}), {args.connections} connections")
                for group in RATIO_GROUPS:
                    results["big"].update(run_group(big_server, group, fixtures["big"], args, raw_server))
            return finish(results, args, machine)
        small_server = Server(database_url(args.pg_url, plan[0][1]), args.port + 1, args.workers)
        with small_server, big_server, raw_server:
            # Flatness: one connection (latency without queueing), the two sizes alternating round by round.
            log(f"== list latency, {args.small_customers:,} vs {args.customers:,} customers, 1 connection")
            rounds: dict[tuple[str, str], list[dict]] = {}
            per_round = max(1, round(args.duration / args.rounds))
            for which, server in (("small", small_server), ("big", big_server)):
                for scenario in SCENARIOS_SMALL:
                    measure(server, scenario, fixtures[which], args, args.warmup or 1, connections=1)
            for _ in range(args.rounds):
                for scenario in SCENARIOS_SMALL:
                    for which, server in (("small", small_server), ("big", big_server)):
                        data = measure(server, scenario, fixtures[which], args, per_round, connections=1)
                        rounds.setdefault((which, scenario), []).append(data)
            for (which, scenario), data in rounds.items():
                results[which][f"{scenario}_1c"] = combine(data)
                show(f"{which} {scenario}", results[which][f"{scenario}_1c"])

            log(f"== {args.customers:,} customers (database {plan[1][1]}), {args.connections} connections")
            for group in GROUPS:
                results["big"].update(run_group(big_server, group, fixtures["big"], args, raw_server))
            # Half the maximum throughput: each connection pauses so the total rate is about half.
            target = results["big"]["retrieve"]["rps"] / 2
            delay_ms = args.connections * 1000 / target
            half = measure(big_server, "retrieve", fixtures["big"], args, args.duration, delay_ms=delay_ms)
            results["big"]["retrieve_half"] = combine([half])
            show("retrieve at half", results["big"]["retrieve_half"])
    return finish(results, args, machine)


def finish(results: dict, args, machine: str) -> int:
    """Print the report, write the JSON figures if asked; return the exit status."""
    text, ok = report(results, args, machine)
    print()
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine, "args": vars(args) | {"json": str(args.json)}, **results}, indent=2)
        )
    print("All goals met." if ok else "Some goals are NOT met (marked NO).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
