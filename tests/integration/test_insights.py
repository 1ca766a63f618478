"""Bestsellers, trending and the sales report equal what the event log says, computed here
straight from the log (not through any read model), and again after each is rebuilt."""

from __future__ import annotations

import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import eventsourcing.domain
import pytest
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import ItemCount, Order
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import CreateProduct
from tillroll.commands.context import CommandContext
from tillroll.commands.inventory import ReceiveStock
from tillroll.projections.engine.verify import verify
from tillroll.queries import insights, reports

from tests.integration.workload import add_customer, order
from tillroll.bootstrap import Runtime

PRODUCTS = {"MUG-1": "mugs", "MUG-2": "mugs", "TEA-1": "tea", "PEN-1": ""}
PRICE = {"MUG-1": 1200, "MUG-2": 1500, "TEA-1": 450, "PEN-1": 199}
NOW = datetime.now(UTC)


@contextlib.contextmanager
def hours_ago(monkeypatch: pytest.MonkeyPatch, hours: float) -> Iterator[None]:
    """Events recorded inside carry timestamps `hours` before NOW (the log keeps them)."""
    at = NOW - timedelta(hours=hours)
    with monkeypatch.context() as patch:
        patch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: at)
        yield


def _order(rt: Runtime, customer: uuid.UUID, lines: list[tuple[str, int]]) -> Order:
    order_id = order(rt.store, customer, [(sku, qty, PRICE[sku]) for sku, qty in lines])
    return rt.store.get(uuid.UUID(order_id))


def _save(rt: Runtime, o: Order) -> None:
    rt.store.save(o, meta={})


def _pay(rt: Runtime, o: Order) -> None:
    o.mark_paid(f"pi_{o.id.hex}", o.total)
    _save(rt, o)


def sales_history(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A week and a day of sales: paid orders, a paid order cancelled and refunded, an unpaid
    one cancelled, a delivered one partly returned and one refunded in full."""
    ctx = CommandContext(rt.store)
    with hours_ago(monkeypatch, 200):
        for sku, category in PRODUCTS.items():
            dispatch(
                CreateProduct(sku, sku.title(), Money(PRICE[sku], "EUR"), category=category), ctx
            )
            dispatch(ReceiveStock(sku, 500, "opening"), ctx)
    customer = uuid.uuid4()
    add_customer(rt.store, customer)
    for hours in (150, 100, 50, 30):  # the baseline week
        with hours_ago(monkeypatch, hours):
            _pay(rt, _order(rt, customer, [("MUG-1", 2), ("TEA-1", 1)]))
    with hours_ago(monkeypatch, 40):
        returned = _order(rt, customer, [("MUG-1", 3), ("PEN-1", 2)])
        _pay(rt, returned)
        returned.ship()
        returned.deliver()
        return_id = returned.request_return([ItemCount("MUG-1", 1)])
        returned.accept_return(return_id)
        _save(rt, returned)
    with hours_ago(monkeypatch, 20):
        returned.receive_return(return_id)
        refund_id = next(r for r in returned.refunds if r not in returned.refunded)
        returned.record_refund(refund_id, Money(returned.refunds[refund_id], "EUR"))
        _save(rt, returned)
        settled = _order(rt, customer, [("TEA-1", 4)])
        _pay(rt, settled)
        settled.ship()
        settled.deliver()
        settled.refund("goodwill")
        _save(rt, settled)
    for hours in (3, 2, 0.1):  # the last 24 h
        with hours_ago(monkeypatch, hours):
            _pay(rt, _order(rt, customer, [("MUG-2", 3), ("TEA-1", 2)]))
    with hours_ago(monkeypatch, 2):  # paid twice: the second payment is refunded at once
        twice = _order(rt, customer, [("PEN-1", 1)])
        _pay(rt, twice)
        twice.payment_succeeded("pi_again", twice.total)
        refund_id = next(iter(twice.refunds))
        twice.record_refund(refund_id, twice.total)
        _save(rt, twice)
    with hours_ago(monkeypatch, 1):
        cancelled = _order(rt, customer, [("MUG-1", 5)])
        _pay(rt, cancelled)
        cancelled.cancel("changed mind", "customer")
        refund_id = next(iter(cancelled.refunds))
        cancelled.record_refund(refund_id, Money(cancelled.refunds[refund_id], "EUR"))
        _save(rt, cancelled)
        unpaid = _order(rt, customer, [("PEN-1", 1)])
        unpaid.cancel("expired", "system")
        _save(rt, unpaid)


def log_events(rt: Runtime) -> list[Any]:
    return [rt.store.decode(n) for n in rt.store.read(0, 100_000)]


def expected_units(events: list[Any]) -> dict[str, dict[str, float]]:
    """Every leaderboard, by its set's name, computed from the log: units of paid orders in
    the day and hour of payment, less units of paid orders cancelled and of returns."""
    boards: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    category, lines, paid_at = {}, {}, {}

    def add(order_id: Any, counts: list[tuple[str, int]], sign: int) -> None:
        at = paid_at[order_id]
        for sku, quantity in counts:
            names = ["all", f"day:{at:%Y-%m-%d}", f"hour:{at:%Y-%m-%dT%H}"]
            if category.get(sku):
                names.append(f"category:{category[sku]}")
            for name in names:
                boards[name][sku] += sign * quantity

    for e in events:
        if isinstance(e, Product.Created):
            category[e.sku] = e.category
        elif isinstance(e, Order.Placed):
            lines[e.originator_id] = [(line.sku, line.quantity) for line in e.lines]
        elif isinstance(e, Order.Paid):
            paid_at[e.originator_id] = e.timestamp
            add(e.originator_id, lines[e.originator_id], 1)
        elif isinstance(e, Order.Cancelled) and e.originator_id in paid_at:
            add(e.originator_id, lines[e.originator_id], -1)
        elif isinstance(e, Order.ReturnReceived):
            add(e.originator_id, [(c.sku, c.quantity) for c in e.lines], -1)
    return {
        name: {sku: units for sku, units in board.items() if units > 0}
        for name, board in boards.items()
        if any(units > 0 for units in board.values())
    }


def expected_trending(boards: dict[str, dict[str, float]], now: datetime) -> list[Any]:
    hour = now.replace(minute=0, second=0, microsecond=0)
    recent: dict[str, float] = defaultdict(float)
    baseline: dict[str, float] = defaultdict(float)
    for back in range(24 * 8):
        name = f"hour:{hour - timedelta(hours=back):%Y-%m-%dT%H}"
        for sku, units in boards.get(name, {}).items():
            (recent if back < 24 else baseline)[sku] += units
    rows = []
    for sku, units in recent.items():
        daily = baseline.get(sku, 0.0) / 7
        rows.append((sku, int(units), round(daily, 4), round((units - daily) / max(daily, 1), 4)))
    return sorted(rows, key=lambda r: (-r[3], -r[1], r[0]))


def expected_report(events: list[Any]) -> tuple[dict[Any, list[int]], dict[Any, list[int]]]:
    """(day, currency) -> [orders, units, revenue, refunds]; (category, currency) ->
    [orders, units, revenue]: payments by their day, confirmed refunds by theirs, at most
    what the order paid, none of an extra payment's."""
    days: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    categories: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    category, placed, paid, refunded = {}, {}, {}, defaultdict(int)
    payment_of, refund_of = {}, {}
    for e in events:
        if isinstance(e, Product.Created):
            category[e.sku] = e.category
        elif isinstance(e, Order.Placed):
            placed[e.originator_id] = e
        elif isinstance(e, Order.Paid):
            lines = placed[e.originator_id].lines
            paid[e.originator_id] = e.amount.amount
            payment_of[e.originator_id] = e.payment_ref
            row = days[(e.timestamp.date(), e.amount.currency)]
            row[0] += 1
            row[1] += sum(line.quantity for line in lines)
            row[2] += e.amount.amount
            seen = set()
            for line in lines:
                key = (category.get(line.sku, ""), e.amount.currency)
                categories[key][0] += key not in seen
                categories[key][1] += line.quantity
                categories[key][2] += line.total.amount
                seen.add(key)
        elif isinstance(e, Order.RefundRequested):
            refund_of[(e.originator_id, e.refund_id)] = e.payment_ref
        elif isinstance(e, Order.Refunded) and e.originator_id in paid:
            gives_back = refund_of.get((e.originator_id, e.refund_id))
            if gives_back not in (None, payment_of[e.originator_id]):
                continue  # an extra payment's refund
            left = paid[e.originator_id] - refunded[e.originator_id]
            amount = min(e.amount, left) if e.amount >= 0 else left
            if amount > 0:
                refunded[e.originator_id] += amount
                days[(e.timestamp.date(), placed[e.originator_id].total.currency)][3] += amount
    return dict(days), dict(categories)


def actual_units(rt: Runtime, names: list[str]) -> dict[str, dict[str, float]]:
    model = rt.read_side().redis_model("bestsellers")
    out = {}
    for name in names:
        rows = rt.redis.zrange(f"{model.namespace}units:{name}", 0, -1, withscores=True)
        if rows:
            out[name] = {sku.decode(): units for sku, units in rows}
    return out


def check_against_log(rt: Runtime) -> None:
    events = log_events(rt)
    boards = expected_units(events)
    read = rt.read_side()
    model = read.redis_model("bestsellers")
    every = [k.decode()[len(model.namespace) + 6 :] for k in rt.redis.scan_iter(
        match=f"{model.namespace}units:*", count=1000)]  # fmt: skip
    assert actual_units(rt, sorted(set(every) | set(boards))) == boards
    # through the queries too
    assert {u.sku: u.units for u in insights.units_sold(read, None, None, 100).items} == boards[
        "all"
    ]
    assert {u.sku: u.units for u in insights.units_sold(read, None, "mugs", 100).items} == (
        boards["category:mugs"]
    )
    trend = insights.trending(read, NOW, 100).items
    assert [(t.sku, t.recent_units, t.baseline_daily_units, t.growth) for t in trend] == (
        expected_trending(boards, NOW)
    )
    page = insights.bestselling_products(read, None, 100, None)
    ranked = sorted(boards["all"].items(), key=lambda kv: (-kv[1], kv[0]))
    assert [p.sku for p in page.items] == [sku for sku, _ in ranked]

    days, categories = expected_report(events)
    q = reports.ReportQuery(NOW.date() - timedelta(days=30), NOW.date(), "day")
    got = reports.sales_report(read, q).rows
    assert {(date.fromisoformat(r.period), r.currency): [r.orders, r.units, r.revenue, r.refunds]
            for r in got} == days  # fmt: skip
    q = reports.ReportQuery(q.start, q.end, "category")
    got = reports.sales_report(read, q).rows
    assert {(r.category, r.currency): [r.orders, r.units, r.revenue] for r in got} == categories
    q = reports.ReportQuery(q.start, q.end, "month")
    total = reports.sales_report(read, q).rows
    assert sum(r.revenue for r in total) == sum(row[2] for row in days.values())
    assert sum(r.refunds or 0 for r in total) == sum(row[3] for row in days.values())


def test_leaderboards_and_report_equal_the_log_and_a_rebuild(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sales_history(runtime, monkeypatch)
    runtime.runner.catch_up()
    check_against_log(runtime)
    # The scenario's expectations, so a wrong oracle cannot pass with a wrong model.
    trend = {t.sku: t for t in insights.trending(runtime.read_side(), NOW, 10).items}
    assert trend["MUG-2"].recent_units == 9 and trend["MUG-2"].growth == 9.0  # zero baseline
    assert trend["TEA-1"].recent_units == 10 and trend["TEA-1"].growth == round(10 - 4 / 7, 4)
    assert "MUG-1" not in trend  # its only order of the last 24 h was cancelled
    for name in ("bestsellers", "sales_report", "live_updates"):
        runtime.runner.rebuild(name)
        assert verify(runtime.runner, name).ok
    check_against_log(runtime)


def test_any_text_an_event_carries_is_counted_and_rebuilds_identically(
    runtime: Runtime,
) -> None:
    ctx = CommandContext(runtime.store)
    dispatch(CreateProduct("NUL-1", "Nul", Money(100, "EUR"), category="odd\x00cat"), ctx)
    dispatch(ReceiveStock("NUL-1", 5, "opening"), ctx)
    customer = uuid.uuid4()
    add_customer(runtime.store, customer)
    _pay(runtime, _order_of(runtime, customer, "NUL-1", 100))
    runtime.runner.catch_up()
    read = runtime.read_side()
    assert insights.units_sold(read, None, "odd\x00cat", 10).items[0].units == 1
    for name in ("bestsellers", "sales_report", "live_updates"):
        assert verify(runtime.runner, name).ok, name


def _order_of(rt: Runtime, customer: uuid.UUID, sku: str, cents: int) -> Order:
    return rt.store.get(uuid.UUID(order(rt.store, customer, [(sku, 1, cents)])))
