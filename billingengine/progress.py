"""Progress bars for long command work: drawn on a terminal, silent when the output is piped or captured."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


def progress_bar(*, total: int | None, desc: str, unit: str = "rows", stream: TextIO | None = None) -> tqdm:
    """Return a tqdm bar on stderr, disabled unless stderr and stdout are both terminals."""
    stream = stream or sys.stderr
    enabled = stream.isatty() and sys.stdout.isatty()
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=stream, disable=not enabled, leave=False)
