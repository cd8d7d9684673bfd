"""Profile one API request in-process: queries it runs and where the Python time goes (cProfile).

    DATABASE_URL=postgres://.../billingengine_bench .venv/bin/python bench/profile_request.py \\
        --key KEY /api/v1/customers/ID [--repeat 200] [--method PUT --body '{...}']

The request is handed to the project's WSGI application exactly as gunicorn hands it (an environ
dict, the response iterated and closed), so the figures are the server's own work per request:
middleware, authentication, view, queries, rendering. `--client` goes through Django's test client
instead (it adds the client's own request building and signal handling, about 0.3 ms).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def wsgi_caller(application, *, method: str, path: str, key: str, body: bytes | None):
    """Return `call()` sending one request to *application* as a WSGI server would; it returns the status."""
    url = urlsplit(path)
    base = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "HTTP_ACCEPT": "application/json",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body is not None:
        base["CONTENT_TYPE"] = "application/json"
        base["CONTENT_LENGTH"] = str(len(body))
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def call() -> str:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body or b"")
        statuses.clear()
        response = application(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            if hasattr(response, "close"):
                response.close()
        status = statuses[0]
        assert int(status[:3]) < 400, (status, content[:500])
        return status

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--key", required=True)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--runs", type=int, default=300, help="Requests timed without the profiler.")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key: cumulative or tottime.")
    parser.add_argument("--no-profile", action="store_true", help="Only the queries and the wall and CPU time.")
    parser.add_argument(
        "--cpu-profile",
        action="store_true",
        help="Profile with the process's CPU time (time.process_time) instead of wall time: waiting for the "
        "database or for a CPU on a busy machine is then left out.",
    )
    parser.add_argument("--client", action="store_true", help="Use Django's test client instead of the WSGI app.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "x" * 60)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("API_THROTTLE_RATE", "")  # as the benchmark servers (one key carries the load)
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if args.client:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {args.key}")

        def once():
            kwargs = {"data": args.body, "content_type": "application/json"} if args.body else {}
            response = getattr(client, args.method.lower())(args.path, **kwargs)
            assert response.status_code < 400, (response.status_code, response.content[:500])
            return response
    else:
        body = args.body.encode() if args.body is not None else None
        once = wsgi_caller(get_wsgi_application(), method=args.method.upper(), path=args.path, key=args.key, body=body)

    for _ in range(20):  # warm-up: imports, URL resolver, connection, first-use caches
        once()
    with CaptureQueriesContext(connection) as queries:
        once()
    print(f"{len(queries)} queries:")
    for q in queries.captured_queries:
        print(f"  {q['time']}s  {q['sql'][:160]}")
    timings = []
    cpu_started = time.process_time()
    for _ in range(args.runs):
        started = time.perf_counter()
        once()
        timings.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu_started) / args.runs
    timings.sort()
    print(
        f"per request ({args.runs} runs, no profiler): wall median {timings[len(timings) // 2] * 1000:.2f} ms, "
        f"min {timings[0] * 1000:.2f} ms; Python CPU {cpu * 1000:.2f} ms"
    )
    if args.no_profile:
        return
    profiler = cProfile.Profile(time.process_time) if args.cpu_profile else cProfile.Profile()
    profiler.enable()
    for _ in range(args.repeat):
        once()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
