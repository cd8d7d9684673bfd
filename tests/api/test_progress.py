from __future__ import annotations

import io

from billingengine.progress import progress_bar


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_drawn_on_a_terminal(monkeypatch):
    stream = Tty()
    monkeypatch.setattr("sys.stdout", Tty())
    with progress_bar(total=10, desc="Importing", stream=stream) as bar:
        bar.update(5)
    assert "Importing" in stream.getvalue()


def test_progress_bar_is_silent_when_output_is_piped(monkeypatch):
    stream = Tty()
    monkeypatch.setattr("sys.stdout", io.StringIO())  # stdout piped: e.g. `export_customers | gzip`
    with progress_bar(total=10, desc="Importing", stream=stream) as bar:
        bar.update(5)
    assert stream.getvalue() == ""
