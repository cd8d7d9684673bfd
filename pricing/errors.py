"""Domain errors of prices; `billingengine.api.exceptions` maps them (as every DomainError) to problem+json."""

from __future__ import annotations

from typing import Any

from billingengine.errors import Conflict, InvalidInput


class PriceListNameTaken(Conflict):
    """Another price list already has this name (ignoring case)."""

    code = "price_list_name_taken"
    field_code = "unique"

    def __init__(self, name: str, existing_id: Any = None) -> None:
        super().__init__(
            f"A price list named '{name}' already exists (names are unique ignoring case).",
            field="name",
            existing_id=str(existing_id) if existing_id else None,
        )


class PriorityTaken(Conflict):
    """Another list of the same scope already has this priority."""

    code = "priority_taken"
    field_code = "unique"

    def __init__(self, priority: int, scope: str, existing_id: Any = None) -> None:
        among = {
            "default": "default lists",
            "group": "group lists",
            "customer": "this customer's lists",
        }[scope]
        super().__init__(
            f"Priority {priority} is already taken among {among}; priorities are unique per scope.",
            field="priority",
            existing_id=str(existing_id) if existing_id else None,
        )


class CurrencyImmutable(InvalidInput):
    """A list's currency is fixed once it has a rate."""

    code = "currency_immutable"

    def __init__(self, current: str) -> None:
        super().__init__(
            f"The list's currency is {current} and cannot change: it already has rates "
            "(create a new list in the other currency).",
            field="currency",
        )


class RateExists(Conflict):
    """The list already has a rate of this code starting at this moment."""

    code = "rate_exists"
    field_code = "unique"

    def __init__(self, code: str, valid_from: Any, existing_id: Any = None) -> None:
        super().__init__(
            f"The list already has a rate of {code} valid from {valid_from.isoformat()}; rates are immutable, "
            "so a price change is a new rate with a later valid_from.",
            field="valid_from",
            existing_id=str(existing_id) if existing_id else None,
        )


class RateInUse(Conflict):
    """An issued bill used the rate."""

    code = "rate_in_use"

    def __init__(self) -> None:
        super().__init__("An issued bill was priced with this rate, so it cannot be deleted.")


class PriceListInUse(Conflict):
    """An issued bill used a rate of the list."""

    code = "price_list_in_use"

    def __init__(self) -> None:
        super().__init__("An issued bill was priced with rates of this list, so it cannot be deleted.")
