"""The import commands end their --help with the file format and examples, their line breaks kept."""

from __future__ import annotations

import pytest
from django.core.management import load_command_class


@pytest.mark.parametrize(
    ("app", "name", "example"),
    [
        ("customers", "import_customers", "  manage.py import_customers crm.csv --dry-run\n"),
        ("pricing", "import_price_lists", "  manage.py import_price_lists prices.json --dry-run"),
    ],
)
def test_import_help_ends_with_the_examples_line_by_line(app, name, example):
    command = load_command_class(app, name)
    help_text = command.create_parser("manage.py", name).format_help()
    assert "Examples:\n" in help_text
    assert example in help_text
    assert help_text.rstrip().endswith(command.epilog.rstrip().splitlines()[-1].strip())
