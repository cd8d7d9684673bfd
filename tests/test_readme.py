"""The README runs as printed: its shell examples, in order, against a live server, with the outputs it shows.

How the README is read:
- Every fenced block tagged ```sh or ```bash runs, in order, in one bash session (variables carry over), with
  `set -euo pipefail`, unless the line before its opening fence is `<!-- readme-test: skip -->` (for
  `make run`, benchmarks, production commands: things that serve, take long or need other machines).
- A block tagged ```output that directly follows a shell block (blank lines aside) is the stdout that block
  must print, line by line. Placeholders: `<uuid>`, `<timestamp>` (RFC 3339), `<n>` (a whole number),
  `<A or B>` (either literal), `...` (any text).
- `http://127.0.0.1:8000` in a block means the server this test starts (on a free port).

The test stands in for `make run`: a fresh database (a temporary SQLite file, or a new PostgreSQL database
when DATABASE_URL points at PostgreSQL), `migrate`, `ensure_admin`, and `runserver` on a free port. The
README's own commands do the rest (the API key, the groups, ...). It then runs the examples a second time,
as a reader trying again would: they must succeed again (outputs may differ where the README says so).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SKIP_MARK = "<!-- readme-test: skip -->"
SHELLS = {"sh", "bash"}
README_PORT = "127.0.0.1:8000"
_FENCE = re.compile(r"^```(\S*)\s*$")
_PLACEHOLDERS = {
    "<uuid>": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "<timestamp>": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)",
    "<n>": r"\d+",
    "...": r".*?",
}
_TOKEN = re.compile(r"<uuid>|<timestamp>|<n>|\.\.\.|<([^<>]+?) or ([^<>]+?)>")


def readme_blocks(text: str) -> list[dict]:
    """Return the README's fenced blocks in order: language, code, line number, skipped, and expected output."""
    blocks: list[dict] = []
    lines = text.splitlines()
    index = 0
    previous_nonblank = ""
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            if lines[index].strip():
                previous_nonblank = lines[index].strip()
            index += 1
            continue
        start = index
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        blocks.append(
            {
                "lang": match.group(1),
                "code": "\n".join(lines[start + 1 : end]),
                "line": start + 1,
                "skip": previous_nonblank == SKIP_MARK,
                "closes_at": end,
            }
        )
        previous_nonblank = ""
        index = end + 1
    # An output block belongs to the shell block right before it.
    runnable = []
    for position, block in enumerate(blocks):
        if block["lang"] not in SHELLS or block["skip"]:
            continue
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        between = lines[block["closes_at"] + 1 : following["line"] - 1] if following else []
        if following and following["lang"] == "output" and not any(line.strip() for line in between):
            block["output"] = following["code"]
        runnable.append(block)
    return runnable


def output_pattern(expected: str) -> re.Pattern:
    """Return a regex matching *expected* with its placeholders."""
    parts, position = [], 0
    for token in _TOKEN.finditer(expected):
        parts.append(re.escape(expected[position : token.start()]))
        if token.group(1) is not None:
            parts.append(f"(?:{re.escape(token.group(1))}|{re.escape(token.group(2))})")
        else:
            parts.append(_PLACEHOLDERS[token.group(0)])
        position = token.end()
    parts.append(re.escape(expected[position:]))
    return re.compile("".join(parts), re.DOTALL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_env():
    """Yield the environment of a fresh database with a migrated schema and the admin user, served on a free
    port (what `make run` does), and the server's address."""
    work = Path(tempfile.mkdtemp(prefix="readme-"))
    env = {
        **os.environ,
        "DEBUG": "true",
        "SECRET_KEY": "readme-test-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_THROTTLE_RATE": "",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "TMPDIR": str(work),  # the README's scratch files (`mktemp -d`) go with the test's folder
    }
    base_url = os.environ.get("DATABASE_URL", "")
    pg_database = None
    if base_url.startswith("postgres"):
        pg_database = f"{base_url.rsplit('/', 1)[1]}_readme_{os.getpid()}"
        env["DATABASE_URL"] = f"{base_url.rsplit('/', 1)[0]}/{pg_database}"
        _psql(base_url, f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)', f'CREATE DATABASE "{pg_database}"')
    else:
        env["DATABASE_URL"] = f"sqlite:///{work / 'readme.sqlite3'}"
    server = None
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([*manage, "ensure_admin"], cwd=ROOT, env=env, check=True, capture_output=True)
        address = f"127.0.0.1:{_free_port()}"
        log = open(work / "server.log", "w")  # noqa: SIM115 (closed with the server below)
        server = subprocess.Popen(
            [*manage, "runserver", address, "--noreload", "--skip-checks"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the server did not start:\n{(work / 'server.log').read_text()}")
                time.sleep(0.2)
        yield env, address, work
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
            log.close()
        if pg_database:
            _psql(base_url, f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def _psql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def run_blocks(blocks: list[dict], env: dict, address: str, work: Path) -> list[str]:
    """Run *blocks* in one bash session; return each block's stdout (fails with the block's line on error)."""
    marker = "@@readme-block-end@@"
    script = ["set -euo pipefail"]
    for block in blocks:
        script.append(block["code"].replace(README_PORT, address))
        script.append(f"echo {marker}")
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env={**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    outputs = result.stdout.split(marker + "\n")
    if result.returncode != 0:
        failed = blocks[len(outputs) - 1]
        pytest.fail(
            f"README block at line {failed['line']} failed (exit {result.returncode}):\n{failed['code']}\n"
            f"--- stdout\n{outputs[-1]}--- stderr\n{result.stderr}\n--- server\n{(work / 'server.log').read_text()}"
        )
    return outputs[: len(blocks)]


def test_readme_parser_finds_the_walkthrough_and_honours_skip_marks():
    blocks = readme_blocks(README.read_text())
    code = "\n".join(block["code"] for block in blocks)
    assert "create_api_key admin" in code and "/records/batch" in code
    assert "make run" not in code and "gunicorn" not in code  # marked with readme-test: skip
    assert sum("output" in block for block in blocks) >= 8


def test_output_placeholders_match_what_they_name_and_nothing_else():
    pattern = output_pattern('{"id":"<uuid>","at":"<timestamp>","n":<n>} <201 or 200>')
    assert pattern.fullmatch('{"id":"1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed","at":"2026-03-31T14:00:00.5Z","n":3} 200')
    assert not pattern.fullmatch('{"id":"1b9d6bcd","at":"2026-03-31T14:00:00.5Z","n":3} 200')
    assert not pattern.fullmatch('{"id":"1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed","at":"x","n":3} 200')
    assert not pattern.fullmatch('{"id":"1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed","at":"2026-03-31T14:00:00Z","n":3} 404')


def test_readme_shell_examples_run_as_printed_and_print_what_the_readme_shows(server_env):
    env, address, work = server_env
    blocks = readme_blocks(README.read_text())
    outputs = run_blocks(blocks, env, address, work)
    for block, output in zip(blocks, outputs, strict=True):
        if "output" in block:
            assert output_pattern(block["output"].rstrip("\n")).fullmatch(_normalized(output)), (
                f"README block at line {block['line']} printed\n{output}\ninstead of\n{block['output']}"
            )

    # A second run, as a reader trying again would: every block succeeds again (run_blocks fails otherwise;
    # some answers differ, e.g. the customer exists now), and the retried records are not counted twice.
    again = run_blocks(blocks, env, address, work)
    usage = next(i for i, block in enumerate(blocks) if "/usage" in block["code"])
    assert again[usage] == outputs[usage]


def _normalized(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.rstrip("\n").splitlines())
