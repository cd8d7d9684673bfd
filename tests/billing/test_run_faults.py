"""A bill run whose database connection drops (PostgreSQL restarting, a backend terminated) reconnects and
retries, saying so in the log; every customer ends up billed exactly once with gap-free numbers. When the
database stays down past the retries, `issue_bills` ends with a clear CommandError (exit code 1), not a
traceback, and the bills issued before stay complete."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from billing import runs
from billing.models import Bill, BillLine, BillNumber
from billing.runs import bill_run
from customers.models import Customer
from records.models import DataRecord
from tests.billing.conftest import at, submit
from tests.factories import CustomerFactory
from tests.postgres import terminate_backend
from tests.pricing.factories import PriceListFactory, RateFactory

MARCH = (at("2026-03-01T00:00"), at("2026-04-01T00:00"))
RETRY_MESSAGE = "reconnecting and retrying"


@pytest.fixture
def usage(monkeypatch):
    """Five customers with March usage; retries without waiting."""
    monkeypatch.setattr(runs, "RETRY_WAIT", 0)
    RateFactory(price_list=PriceListFactory(currency="EUR"), code="SMS", unit_price=Decimal("0.5"))
    customers = [CustomerFactory() for _ in range(5)]
    for i, customer in enumerate(customers):
        submit(customer, [("SMS", i + 1, at("2026-03-10T10:10")), ("SMS", 1, at("2026-03-20T00:00"))])
    yield customers
    connection.close()  # a test that failed may leave a dropped connection behind: the teardown reconnects


def assert_billed_exactly_once(customers) -> None:
    bills = list(Bill.objects.values_list("customer_id", "number"))
    assert sorted(c for c, _ in bills) == sorted(c.pk for c in customers)
    assert sorted(int(n[-6:]) for _, n in bills) == list(range(1, len(customers) + 1))
    assert BillNumber.objects.get().last == len(customers)
    assert set(Customer.objects.values_list("billing_epoch", flat=True)) == {1}
    for bill in Bill.objects.all():
        records = DataRecord.objects.filter(customer_id=bill.customer_id).count()
        assert sum(BillLine.objects.filter(bill=bill).values_list("records", flat=True)) == records


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_between_batches_is_retried(usage, caplog):
    """Bug: only the issuing of a batch was retried; a connection dropped while the run was between batches
    failed the next page query (the customers in id order), and the run died with "the database failed and
    did not come back" although the database was back."""
    dropped = []

    def drop_after_the_first_batch(_customers: int) -> None:
        if not dropped:
            dropped.append(connection.connection.info.backend_pid)
            terminate_backend(dropped[0])

    with caplog.at_level(logging.WARNING, logger="billingengine.billing"):
        report = bill_run(start=MARCH[0], end=MARCH[1], batch_size=2, on_batch=drop_after_the_first_batch)
    assert dropped and connection.connection.info.backend_pid != dropped[0]
    assert report.issued == 5 and report.failed == []
    assert_billed_exactly_once(usage)
    assert any(RETRY_MESSAGE in record.getMessage() for record in caplog.records)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_while_selecting_a_batchs_candidates_is_retried(usage, monkeypatch, caplog):
    """Bug: the query choosing a batch's candidates (customers with usage) was not retried either."""
    original = runs._with_possible_usage
    dropped = []

    def dropping(batch, start, end):
        if not dropped:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # make sure there is a backend to drop
            dropped.append(connection.connection.info.backend_pid)
            terminate_backend(dropped[0])
        return original(batch, start, end)

    monkeypatch.setattr(runs, "_with_possible_usage", dropping)
    with caplog.at_level(logging.WARNING, logger="billingengine.billing"):
        report = bill_run(start=MARCH[0], end=MARCH[1], batch_size=2)
    assert dropped and report.issued == 5
    assert_billed_exactly_once(usage)
    assert any(RETRY_MESSAGE in record.getMessage() for record in caplog.records)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_inside_a_batch_rolls_it_back_whole_and_retries_it(usage, monkeypatch, caplog):
    """The batch in flight (bills, lines, epochs, counter) rolls back whole and is issued again."""
    original = runs.bills_issue
    dropped = []

    def dropping(**kwargs):
        if not dropped:
            from billing import services

            take = services.bill_numbers_take

            def take_then_drop(**take_kwargs):  # numbers taken, bills not yet written: then the backend dies
                numbers = take(**take_kwargs)
                dropped.append(connection.connection.info.backend_pid)
                terminate_backend(dropped[0])
                return numbers

            monkeypatch.setattr(services, "bill_numbers_take", take_then_drop)
            try:
                return original(**kwargs)
            finally:
                monkeypatch.setattr(services, "bill_numbers_take", take)
        return original(**kwargs)

    monkeypatch.setattr(runs, "bills_issue", dropping)
    with caplog.at_level(logging.WARNING, logger="billingengine.billing"):
        report = bill_run(start=MARCH[0], end=MARCH[1], batch_size=2)
    assert dropped and report.issued == 5
    assert_billed_exactly_once(usage)
    assert any(RETRY_MESSAGE in record.getMessage() for record in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_a_database_down_past_the_retries_is_a_clear_command_error(usage, monkeypatch, caplog):
    calls = []

    def down(**kwargs):
        calls.append(1)
        raise OperationalError("connection refused")

    monkeypatch.setattr(runs, "bills_issue", down)
    with caplog.at_level(logging.WARNING, logger="billingengine.billing"), pytest.raises(CommandError) as raised:
        call_command("issue_bills", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z")
    message = str(raised.value)
    assert "The database failed and did not come back" in message and "run the same command again" in message
    assert len(calls) == runs.RETRIES + 1
    assert sum(RETRY_MESSAGE in record.getMessage() for record in caplog.records) == runs.RETRIES
    assert not Bill.objects.exists() and not BillNumber.objects.exists()


@pytest.mark.parametrize("lookup", ["count", "filter"])
@pytest.mark.django_db(transaction=True)
def test_a_database_down_when_the_command_starts_is_a_clear_command_error(usage, monkeypatch, lookup):
    """Bug: the command's first queries (the customer count for the progress bar, the --customer lookup) ran
    outside its database error handling: a database down when `issue_bills` started printed a traceback."""

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(Customer.objects, lookup, down)
    customer = ["--customer", usage[0].external_id] if lookup == "filter" else []
    with pytest.raises(CommandError, match=r"The database failed and did not come back \(connection refused\)\."):
        call_command("issue_bills", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z", *customer)
    monkeypatch.undo()
    assert not Bill.objects.exists() and not BillNumber.objects.exists()


def test_a_run_waits_longer_between_retries_and_rides_out_a_minute_long_outage(monkeypatch):
    """Bug: the retries were 6 waits of 2 s, so a PostgreSQL restart taking longer than about 12 s (a crash
    recovery replaying WAL) ended the run although the database was coming back. The waits now double up
    to a cap, covering over a minute of outage, and the log says how long each one is."""
    waits = []
    monkeypatch.setattr(runs.time, "sleep", waits.append)
    monkeypatch.setattr(runs, "connection", type("Closed", (), {"close": staticmethod(lambda: None)}))
    monkeypatch.setattr(runs, "close_old_connections", lambda: None)
    failures = iter(range(runs.RETRIES))

    def query():
        if next(failures, None) is not None:
            raise OperationalError("the database system is starting up")
        return "answered"

    assert runs._retrying(query) == "answered"
    assert waits == [1, 2, 4, 8, 15, 15, 15, 15]
    assert waits == [runs.retry_wait(attempt) for attempt in range(runs.RETRIES)]
    assert sum(waits) >= 60


@pytest.mark.django_db(transaction=True)
def test_the_database_error_reads_as_one_sentence_whatever_the_driver_puts_at_its_end(usage, monkeypatch):
    """Bug: psycopg's messages end with "?" or "." ("... accepting TCP/IP connections?"), and the command
    appended ". Bills issued so far...", printing "connections?. Bills issued so far"."""

    def down(**kwargs):
        raise OperationalError(
            "connection failed: Is the server running on that host\nand accepting TCP/IP connections?\n"
        )

    monkeypatch.setattr(runs, "bills_issue", down)
    with pytest.raises(CommandError) as raised:
        call_command("issue_bills", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z")
    assert str(raised.value) == (
        "The database failed and did not come back (connection failed: Is the server running on that host and "
        "accepting TCP/IP connections). Bills issued so far are complete; run the same command again to bill the rest."
    )
