"""Price lists and their rates: what a record code costs, in which currency, from when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from billingengine.validators import no_control_characters
from pricing.currencies import normalize_currency
from pricing.querysets import PriceListQuerySet, RateQuerySet
from records.models import code_validator

#: Prices: up to 18 digits before the point and 10 after (the contract's limits).
PRICE_MAX_DIGITS = 28
PRICE_DECIMAL_PLACES = 10


def validate_currency(value: str) -> None:
    """Refuse anything but an upper-case ISO 4217 code with a minor unit."""
    try:
        if normalize_currency(value) != value:
            raise ValueError(f"'{value}' must be written upper-case.")
    except ValueError as error:
        raise ValidationError(str(error), code="unknown_currency") from error


class PriceList(models.Model):
    """Prices (rates) for record codes in one currency, for everybody, a group or one customer."""

    class Scope(models.TextChoices):
        DEFAULT = "default", "default"
        GROUP = "group", "group"
        CUSTOMER = "customer", "customer"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=255, validators=[no_control_characters], help_text="Unique, ignoring case, e.g. “VIP 2026”."
    )
    description = models.TextField(blank=True, default="", help_text="What the list is for.")
    currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text="ISO 4217 code, e.g. EUR; cannot change once the list has a rate.",
    )
    group = models.ForeignKey(
        "groups.Group",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="price_lists",
        help_text="Set for a group's list: it prices the records of the group's members while they are members.",
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="price_lists",
        help_text="Set for one customer's own list (it goes with the customer).",
    )
    priority = models.IntegerField(
        default=0, help_text="Lower wins; unique among lists of the same scope (customer lists: per customer)."
    )
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    objects = PriceListQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "price list"
        verbose_name_plural = "price lists"
        constraints = [
            models.UniqueConstraint(Lower("name"), name="%(app_label)s_%(class)s_name_ci_unique"),
            models.CheckConstraint(condition=~models.Q(name=""), name="%(app_label)s_%(class)s_name_not_blank"),
            models.CheckConstraint(
                condition=models.Q(group__isnull=True) | models.Q(customer__isnull=True),
                name="%(app_label)s_%(class)s_not_group_and_customer",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="%(app_label)s_%(class)s_currency_upper"
            ),
            models.UniqueConstraint(
                fields=["priority"],
                condition=models.Q(group__isnull=True, customer__isnull=True),
                name="%(app_label)s_%(class)s_default_priority_unique",
            ),
            models.UniqueConstraint(
                fields=["priority"],
                condition=models.Q(group__isnull=False),
                name="%(app_label)s_%(class)s_group_priority_unique",
            ),
            models.UniqueConstraint(
                fields=["customer", "priority"],
                condition=models.Q(customer__isnull=False),
                name="%(app_label)s_%(class)s_customer_priority_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="pricing_list_created_id_idx"),
            models.Index(fields=["updated_at", "id"], name="pricing_list_updated_id_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> str:
        """Return "customer", "group" or "default": whom the list prices."""
        if self.customer_id is not None:
            return "customer"
        if self.group_id is not None:
            return "group"
        return "default"

    def clean(self) -> None:
        if self.group_id is not None and self.customer_id is not None:
            raise ValidationError(
                {"customer": ValidationError("A list is for a group or for a customer, not both.", code="both_scopes")}
            )


class Rate(models.Model):
    """The price of one record code in a list from `valid_from` until the code's next rate there. Immutable."""

    class Model(models.TextChoices):
        UNIT = "unit", "unit"
        GRADUATED = "graduated", "graduated"
        VOLUME = "volume", "volume"
        PACKAGE = "package", "package"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="rates")
    code = models.CharField(max_length=64, validators=[code_validator], help_text="The record code it prices.")
    model = models.CharField(max_length=16, choices=Model.choices, help_text="How the amount is computed.")
    valid_from = models.DateTimeField(help_text="From when it applies (until the next rate of the code in the list).")
    unit_price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="unit: the price of one unit.",
    )
    tiers = models.JSONField(
        null=True,
        blank=True,
        help_text='graduated/volume: [{"up_to": "1000", "unit_price": "0.05", "flat_price": "0"}, …, '
        '{"up_to": null, …}] with decimal strings.',
    )
    package_size = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        null=True,
        blank=True,
        help_text="package: units per package (> 0).",
    )
    package_price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="package: the price of one started package.",
    )
    created_at = models.DateTimeField(auto_now_add=True, editable=False)

    objects = RateQuerySet.as_manager()

    class Meta:
        ordering = ["code", "valid_from", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["price_list", "code", "valid_from"], name="%(app_label)s_%(class)s_list_code_from_unique"
            ),
            models.CheckConstraint(condition=~models.Q(code=""), name="%(app_label)s_%(class)s_code_not_blank"),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        model="unit",
                        unit_price__isnull=False,
                        tiers__isnull=True,
                        package_size__isnull=True,
                        package_price__isnull=True,
                    )
                    | models.Q(
                        model__in=["graduated", "volume"],
                        unit_price__isnull=True,
                        tiers__isnull=False,
                        package_size__isnull=True,
                        package_price__isnull=True,
                    )
                    | models.Q(
                        model="package",
                        unit_price__isnull=True,
                        tiers__isnull=True,
                        package_size__isnull=False,
                        package_price__isnull=False,
                    )
                ),
                name="%(app_label)s_%(class)s_fields_match_model",
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__isnull=True) | models.Q(unit_price__gte=0),
                name="%(app_label)s_%(class)s_unit_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(package_price__isnull=True) | models.Q(package_price__gte=0),
                name="%(app_label)s_%(class)s_package_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(package_size__isnull=True) | models.Q(package_size__gt=0),
                name="%(app_label)s_%(class)s_package_size_positive",
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="pricing_rate_created_id_idx")]

    def __str__(self) -> str:
        return f"{self.code} {self.model} from {self.valid_from:%Y-%m-%d %H:%M:%S %Z}"

    def clean(self) -> None:
        terms = {f: getattr(self, f) for f in TERM_FIELDS}
        cleaned, problems = check_rate_terms(model=self.model, **terms)
        if problems:
            errors: dict[str, list[ValidationError]] = {}
            for problem in problems:
                field = problem.path.split("[", 1)[0].split(".", 1)[0] or "model"
                message = problem.detail if problem.path == field else f"{problem.path}: {problem.detail}"
                errors.setdefault(field, []).append(ValidationError(message, code=problem.code))
            raise ValidationError(errors)
        for field, value in cleaned.items():
            setattr(self, field, value)

    @property
    def valid_to(self) -> datetime | None:
        """Return when the next rate of the code in the list starts (None while open); annotated by
        `Rate.objects.with_valid_to()` for lists, else read with one query."""
        if "_valid_to" not in self.__dict__:
            self.__dict__["_valid_to"] = (
                Rate.objects.filter(price_list_id=self.price_list_id, code=self.code, valid_from__gt=self.valid_from)
                .order_by("valid_from")
                .values_list("valid_from", flat=True)
                .first()
            )
        return self.__dict__["_valid_to"]

    @valid_to.setter
    def valid_to(self, value: datetime | None) -> None:
        self.__dict__["_valid_to"] = value

    def tier_table(self) -> list[Tier]:
        """Return the tiers as decimals (graduated and volume rates)."""
        return [
            Tier(
                up_to=None if t["up_to"] is None else Decimal(t["up_to"]),
                unit_price=Decimal(t["unit_price"]),
                flat_price=Decimal(t.get("flat_price") or "0"),
            )
            for t in self.tiers or ()
        ]


# -- the terms of a rate, checked once for every door (API, admin, import) ---------------------------------------

#: The fields each model uses; the others must be empty.
MODEL_FIELDS = {
    Rate.Model.UNIT: ("unit_price",),
    Rate.Model.GRADUATED: ("tiers",),
    Rate.Model.VOLUME: ("tiers",),
    Rate.Model.PACKAGE: ("package_size", "package_price"),
}
TERM_FIELDS = ("unit_price", "tiers", "package_size", "package_price")
TIER_KEYS = ("up_to", "unit_price", "flat_price")
MAX_TIERS = 100


@dataclass(frozen=True)
class Tier:
    """One tier of a graduated or volume rate: up to `up_to` (inclusive; None = no bound)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_price: Decimal


@dataclass(frozen=True)
class TermProblem:
    """What is wrong with a rate's terms and where (`tiers[1].up_to`)."""

    path: str
    code: str
    detail: str


def decimal_text(value: Decimal) -> str:
    """Return *value* as plain decimal text without trailing zeros ("0.05", "1000", "0")."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_decimal(value: Any, *, minimum: Decimal | None = Decimal(0), exclusive: bool = False) -> Decimal | str:
    """Return *value* (a decimal string or a JSON number) as a Decimal, or the reason it is not acceptable.

    At most 18 digits before the point and 10 after (trailing zeros do not count); below *minimum* refused.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return 'Must be a decimal number or a decimal string, e.g. "0.05".'
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return 'Must be a decimal number or a decimal string, e.g. "0.05".'
    if not number.is_finite():
        return "Must be a finite decimal number."
    _, digits, exponent = number.as_tuple()
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if exponent < -PRICE_DECIMAL_PLACES:
        return f"At most {PRICE_DECIMAL_PLACES} digits after the decimal point."
    if any(digits) and len(digits) + exponent > PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES:
        return f"At most {PRICE_MAX_DIGITS - PRICE_DECIMAL_PLACES} digits before the decimal point."
    if minimum is not None and (number <= minimum if exclusive else number < minimum):
        return f"Must be greater than {minimum}." if exclusive else f"Must be at least {minimum}."
    return number + 0  # -0 -> 0


def check_rate_terms(
    *, model: str, unit_price: Any = None, tiers: Any = None, package_size: Any = None, package_price: Any = None
) -> tuple[dict[str, Any], list[TermProblem]]:
    """Check a rate's terms against its model; return (cleaned values, problems).

    Cleaned values hold Decimals for the price fields and the tiers as JSON with decimal strings
    (`flat_price` filled in with "0").
    """
    given = {"unit_price": unit_price, "tiers": tiers, "package_size": package_size, "package_price": package_price}
    problems: list[TermProblem] = []
    try:
        wanted = MODEL_FIELDS[Rate.Model(model)]
    except ValueError:
        choices = ", ".join(Rate.Model.values)
        return {}, [TermProblem("model", "invalid_choice", f"Unknown model '{str(model)[:32]}'; use one of {choices}.")]
    for field in TERM_FIELDS:
        if field not in wanted and given[field] is not None:
            problems.append(
                TermProblem(field, "not_for_model", f"{field} does not belong to a {model} rate; leave it out.")
            )
    for field in wanted:
        if given[field] is None:
            problems.append(TermProblem(field, "required", f"A {model} rate needs {field}."))
    cleaned: dict[str, Any] = dict.fromkeys(TERM_FIELDS)
    for field in ("unit_price", "package_price", "package_size"):
        if field in wanted and given[field] is not None:
            number = parse_decimal(given[field], exclusive=field == "package_size")
            if isinstance(number, str):
                problems.append(TermProblem(field, "invalid", number))
            else:
                cleaned[field] = number
    if "tiers" in wanted and tiers is not None:
        cleaned["tiers"] = _check_tiers(tiers, problems)
    return cleaned, problems


def _check_tiers(tiers: Any, problems: list[TermProblem]) -> list[dict[str, str | None]] | None:
    if not isinstance(tiers, list) or not tiers:
        problems.append(TermProblem("tiers", "invalid", "Must be a non-empty list of tiers."))
        return None
    if len(tiers) > MAX_TIERS:
        problems.append(TermProblem("tiers", "invalid", f"At most {MAX_TIERS} tiers."))
        return None
    out: list[dict[str, str | None]] = []
    previous: Decimal | None = None
    last = len(tiers) - 1
    for index, tier in enumerate(tiers):
        path = f"tiers[{index}]"
        if not isinstance(tier, dict):
            problems.append(TermProblem(path, "invalid", 'Must be an object {"up_to", "unit_price", "flat_price"}.'))
            continue
        for key in tier:
            if key not in TIER_KEYS:
                problems.append(TermProblem(f"{path}.{str(key)[:32]}", "unknown_field", "Unknown field."))
        cleaned: dict[str, str | None] = {}
        if "up_to" not in tier:
            problems.append(TermProblem(f"{path}.up_to", "required", "Each tier needs up_to (null for the last)."))
            up_to = None
        elif tier["up_to"] is None:
            up_to = None
            if index != last:
                problems.append(
                    TermProblem(f"{path}.up_to", "unbounded_tier_not_last", "Only the last tier has no bound (null).")
                )
        else:
            up_to = parse_decimal(tier["up_to"], exclusive=True)
            if isinstance(up_to, str):
                problems.append(TermProblem(f"{path}.up_to", "invalid", up_to))
                up_to = None
            elif index == last:
                problems.append(
                    TermProblem(f"{path}.up_to", "last_tier_bounded", "The last tier has no bound: up_to must be null.")
                )
            elif previous is not None and up_to <= previous:
                problems.append(
                    TermProblem(
                        f"{path}.up_to",
                        "tiers_not_increasing",
                        f"up_to must be greater than the previous tier's ({decimal_text(previous)}).",
                    )
                )
            if isinstance(up_to, Decimal):
                previous = up_to if previous is None or up_to > previous else previous
        cleaned["up_to"] = None if up_to is None else decimal_text(up_to)
        for key, required in (("unit_price", True), ("flat_price", False)):
            if key not in tier or tier[key] is None:
                if required:
                    problems.append(TermProblem(f"{path}.{key}", "required", f"Each tier needs {key}."))
                cleaned[key] = "0"
                continue
            number = parse_decimal(tier[key])
            if isinstance(number, str):
                problems.append(TermProblem(f"{path}.{key}", "invalid", number))
                cleaned[key] = "0"
            else:
                cleaned[key] = decimal_text(number)
        out.append(cleaned)
    return out
