"""Regenerate docs/screenshots/*.png: pictures of the admin's main pages at 1400 px width.

    .venv/bin/python bench/screenshots.py

Runs the browser test (tests/e2e, Debian's chromium) with E2E_SCREENSHOTS pointing at docs/screenshots;
the test seeds its own demo data (3,000 customers, 8 customer groups) in a throw-away test database and
saves a picture at each main step. Prints the files it wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "screenshots"


def main() -> int:
    env = {**os.environ, "E2E_SCREENSHOTS": str(TARGET)}
    command = [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    for picture in sorted(TARGET.glob("*.png")):
        print(f"{picture.relative_to(ROOT)}  {picture.stat().st_size / 1024:.0f} KiB")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
