"""Price watches on the real servers: a drop e-mails (through the worker and a real SMTP
server) every watcher whose target it reaches, and those without a target, once per drop,
also when the reaction delivers the drop again; a rise e-mails nobody."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from psycopg.sql import SQL, Identifier
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.money import Money
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import ChangePrice
from tillroll.commands.context import SYSTEM, CommandContext, Principal
from tillroll.commands.identity import OpenAccount
from tillroll.commands.price_watches import WatchPrice
from tillroll.infra.settings import Settings

from tests.conftest import DEMO_PASSWORD, open_accounts
from tests.integration.test_smtp import Inbox, _serve
from tests.integration.workload import create_product
from tillroll.bootstrap import Runtime
from tillroll.worker import work

ADA = Account.create_id("customer@example.com")
BOB = Account.create_id("bob@example.com")


@pytest.fixture
def shop_with_mail(settings: Settings) -> Iterator[tuple[Runtime, Inbox]]:
    inbox = Inbox()
    for port in _serve(inbox):
        runtime = Runtime.open(replace(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        try:
            open_accounts(runtime)
            dispatch(
                OpenAccount("bob@example.com", "Bob", "customer", DEMO_PASSWORD),
                runtime.command_context(SYSTEM),
            )
            create_product(runtime.store, "MUG", 2000, 0)
            yield runtime, inbox
        finally:
            runtime.close()


def watch(runtime: Runtime, customer: object, target: int | None) -> None:
    ctx = CommandContext(runtime.store, principal=Principal(str(customer), "customer"))
    price = None if target is None else Money(target, "EUR")
    dispatch(WatchPrice(customer, "MUG", price), ctx)  # type: ignore[arg-type]


def reprice(runtime: Runtime, cents: int) -> None:
    dispatch(ChangePrice("MUG", Money(cents, "EUR")), CommandContext(runtime.store))
    runtime.runner.catch_up()
    work(runtime, burst=True)


def recipients(inbox: Inbox) -> list[str]:
    return sorted(str(message["To"]) for message in inbox.messages)


def test_a_drop_mails_each_watcher_it_reaches_once_even_when_delivered_again(
    shop_with_mail: tuple[Runtime, Inbox],
) -> None:
    runtime, inbox = shop_with_mail
    watch(runtime, ADA, 1500)
    watch(runtime, BOB, None)
    with runtime.read_pool.connection() as conn:
        before = conn.execute(
            SQL("SELECT position FROM {} WHERE name = 'price_watches'").format(
                Identifier("reaction_positions")
            )
        ).fetchone()[0]

    reprice(runtime, 1800)  # a drop, above Ada's target: Bob (any drop) only
    assert recipients(inbox) == ["bob@example.com"]
    reprice(runtime, 1500)  # at Ada's target: both
    assert recipients(inbox) == ["bob@example.com", "bob@example.com", "customer@example.com"]
    assert "15.00 EUR" in str(inbox.messages[-1]["Subject"])

    # The reaction restarts from an older position: the drops are delivered again.
    with runtime.read_pool.connection() as conn:
        conn.execute(
            SQL("UPDATE {} SET position = %s WHERE name = 'price_watches'").format(
                Identifier("reaction_positions")
            ),
            (before,),
        )
    runtime.runner.catch_up()
    work(runtime, burst=True)
    assert len(inbox.messages) == 3


def test_a_rise_mails_nobody(shop_with_mail: tuple[Runtime, Inbox]) -> None:
    runtime, inbox = shop_with_mail
    watch(runtime, ADA, 5000)
    watch(runtime, BOB, None)
    reprice(runtime, 2500)
    assert inbox.messages == []
