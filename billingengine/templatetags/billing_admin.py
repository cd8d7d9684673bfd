"""Template filters of the admin: numbers as staff read them."""

from __future__ import annotations

from django import template

from billingengine.display import format_quantity

register = template.Library()


@register.filter
def thousands(value) -> str:
    """1234567 -> "1,234,567" (quantities keep their decimals, without trailing zeros)."""
    try:
        return format_quantity(value)
    except (TypeError, ValueError, ArithmeticError):
        return str(value)
