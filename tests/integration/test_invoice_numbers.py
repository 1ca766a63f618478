"""Invoice numbers are unique and gap-free per year: 30 orders paid at once through two
`tillroll serve` processes (each running the `invoices` reaction) while this process issues
the same invoices from eight threads; and after a crash between payment and numbering, or
in the middle of numbering."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from psycopg.sql import SQL, Identifier
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.invoicing.invoice import INVOICES, DocumentSeries, Invoice
from tillroll.aggregates.ordering.order import Order
from tillroll.commands.bus import dispatch
from tillroll.commands.context import SYSTEM, CommandContext, Principal
from tillroll.commands.invoicing import IssueInvoice
from tillroll.commands.payments import StartPayment

from tests.conftest import open_accounts, serving
from tests.integration.workload import create_product, order
from tillroll.bootstrap import Runtime

CUSTOMER = Account.create_id("customer@example.com")
META = {"principal": "test", "role": "staff", "request_id": "test"}
YEAR = datetime.now(UTC).year


def started_orders(runtime: Runtime, count: int) -> list[tuple[str, str]]:
    """(order id, payment intent id) of `count` placed orders whose payment is started."""
    create_product(runtime.store, "MUG", 1299, count)
    ctx = runtime.command_context(Principal(str(CUSTOMER), "customer"))
    started = []
    for _ in range(count):
        order_id = order(runtime.store, CUSTOMER, [("MUG", 1, 1299)])
        intent = dispatch(StartPayment(UUID(order_id)), ctx)
        started.append((order_id, intent.payment_intent_id))
    return started


def numbers(runtime: Runtime, order_ids: list[str]) -> list[str]:
    found = runtime.store.get_many([Invoice.create_id(UUID(o)) for o in order_ids])
    return sorted(invoice.number for invoice in found.values())


def expected(count: int) -> list[str]:
    return [f"{YEAR}-{n:06d}" for n in range(1, count + 1)]


@pytest.fixture
def two_servers(runtime: Runtime) -> Iterator[tuple[str, str]]:
    with serving(runtime.settings, 2) as (one, two):
        yield one, two


def test_thirty_orders_paid_at_once_across_two_processes_get_numbers_1_to_30(
    runtime: Runtime, two_servers: tuple[str, str]
) -> None:
    open_accounts(runtime)
    started = started_orders(runtime, 30)
    order_ids = [order_id for order_id, _ in started]

    def pay(index: int) -> int:
        base = two_servers[index % 2]
        intent = started[index][1]
        response = httpx.post(f"{base}/v1/dev/payments/{intent}/succeed", timeout=30)
        return response.status_code

    def issue(order_id: str) -> Any:
        # This process races the servers' reactions for the same invoices.
        paid = runtime.store.get(UUID(order_id))
        while not isinstance(paid, Order) or paid.status != "paid":
            time.sleep(0.01)
            paid = runtime.store.get(UUID(order_id))
        return dispatch(IssueInvoice(paid.id, paid.modified_on), CommandContext(runtime.store))

    with ThreadPoolExecutor(8) as payers, ThreadPoolExecutor(8) as issuers:
        statuses = list(payers.map(pay, range(30)))
        issued = list(issuers.map(issue, order_ids))
    assert statuses == [200] * 30

    deadline = time.monotonic() + 30
    while len(numbers(runtime, order_ids)) < 30:
        assert time.monotonic() < deadline, "the servers did not issue every invoice"
        time.sleep(0.05)
    assert numbers(runtime, order_ids) == expected(30)
    series: DocumentSeries = runtime.store.get(DocumentSeries.create_id(INVOICES, YEAR))
    assert series.last == 30 and series.version == 31  # one number taken per invoice
    assert len({result.number for result in issued}) == 30


def _reaction_position(runtime: Runtime, name: str) -> int:
    with runtime.read_pool.connection() as conn:
        row = conn.execute(
            SQL("SELECT position FROM {} WHERE name = %s").format(Identifier("reaction_positions")),
            (name,),
        ).fetchone()
    return int(row[0])


def _rewind(runtime: Runtime, name: str, position: int) -> None:
    with runtime.read_pool.connection() as conn:
        conn.execute(
            SQL("UPDATE {} SET position = %s WHERE name = %s").format(
                Identifier("reaction_positions")
            ),
            (position, name),
        )


def _pay(runtime: Runtime, order_id: str) -> None:
    paid: Order = runtime.store.get(UUID(order_id))
    paid.mark_paid(f"pi_{order_id[:8]}", paid.total)
    runtime.store.save(paid, meta=META)


class CrashBeforeCommit:
    """The event store until an invoice is about to be committed, when the process dies:
    what a crash in the middle of numbering leaves behind (whatever was saved before it
    stays)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def save(self, *aggregates: Any, **kwargs: Any) -> int:
        if any(isinstance(a, Invoice) for a in aggregates):
            raise SystemExit("killed before the commit")
        return self.store.save(*aggregates, **kwargs)


def test_a_crash_between_payment_and_numbering_numbers_each_order_once_without_a_gap(
    runtime: Runtime,
) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 3)
    orders = [order(runtime.store, CUSTOMER, [("MUG", 1, 1299)]) for _ in range(3)]
    before = _reaction_position(runtime, "invoices")
    # Paid while no follower runs: the reaction has not seen the payments (the process that
    # would number them is down).
    for order_id in orders[:2]:
        _pay(runtime, order_id)
    assert numbers(runtime, orders) == []

    runtime.runner.catch_up()  # the follower resumes from its recorded position
    assert numbers(runtime, orders) == expected(2)

    # Numbered, then killed before the position was recorded: the events come again.
    _rewind(runtime, "invoices", before)
    runtime.runner.catch_up()
    assert numbers(runtime, orders) == expected(2)

    # Killed in the middle of numbering, before the commit: no number is taken.
    _pay(runtime, orders[2])
    paid: Order = runtime.store.get(UUID(orders[2]))
    with pytest.raises(SystemExit):
        dispatch(
            IssueInvoice(paid.id, paid.modified_on),
            CommandContext(CrashBeforeCommit(runtime.store), SYSTEM),
        )
    assert numbers(runtime, orders) == expected(2)
    runtime.runner.catch_up()
    assert numbers(runtime, orders) == expected(3)
    series: DocumentSeries = runtime.store.get(DocumentSeries.create_id(INVOICES, YEAR))
    assert (series.last, series.version) == (3, 4)
