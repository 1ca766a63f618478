"""Order: placing validates the lines; the lifecycle only moves along TRANSITIONS."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from tillroll.aggregates.errors import Conflict, IllegalTransition, InvalidValue
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import (
    MAX_LINES,
    MAX_QUANTITY,
    TRANSITIONS,
    Address,
    Order,
    OrderLine,
    OrderStatus,
    check_lines,
)

S = OrderStatus
CUSTOMER = UUID("00000000-0000-4000-8000-0000000000c1")
ADDRESS = Address(name="Ada", line1="1 Loop Rd", city="Berlin", postal_code="10115", country="DE")


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def line(sku: str, quantity: int = 1, price: Money | None = None) -> OrderLine:
    return OrderLine(sku=sku, quantity=quantity, unit_price=price or eur(1000))


def place(lines: list[OrderLine] | None = None) -> Order:
    return Order.place(
        CUSTOMER, lines or [line("A", 2, eur(1250)), line("B", 1, eur(999))], ADDRESS
    )


# --- placing ---------------------------------------------------------------------------------


def test_placed_order_records_lines_address_and_status_when_lines_are_valid() -> None:
    lines = [line("A", 2, eur(1250)), line("B", 1, eur(999))]

    order = Order.place(CUSTOMER, lines, ADDRESS)

    assert order.status == S.PLACED
    assert order.customer_id == CUSTOMER
    assert order.shipping_address == ADDRESS
    assert order.lines == lines
    assert order.lines is not lines
    assert order.cancel_reason == ""
    assert [type(e).__name__ for e in order.pending_events] == ["Placed"]


def test_total_is_sum_of_unit_price_times_quantity_when_placed() -> None:
    order = place([line("A", 3, eur(1250)), line("B", 2, eur(999)), line("C", 1, eur(0))])

    assert order.total == eur(3 * 1250 + 2 * 999)
    assert order.total == Money(5748, "EUR")


def test_line_total_is_unit_price_times_quantity_when_asked() -> None:
    assert line("A", 4, Money(250, "JPY")).total == Money(1000, "JPY")


def test_total_keeps_the_lines_currency_when_not_euro() -> None:
    order = place([line("A", 1, Money(700, "GBP")), line("B", 10, Money(5, "GBP"))])

    assert order.total == Money(750, "GBP")


def test_place_accepts_limits_when_quantity_and_line_count_are_at_maximum() -> None:
    order = place([line(f"S{i}", MAX_QUANTITY if i == 0 else 1, eur(1)) for i in range(MAX_LINES)])

    assert len(order.lines) == MAX_LINES
    assert order.total == eur(MAX_QUANTITY + MAX_LINES - 1)


def test_place_raises_invalid_value_on_lines_when_there_are_no_lines() -> None:
    with pytest.raises(InvalidValue) as err:
        Order.place(CUSTOMER, [], ADDRESS)

    assert err.value.field == "lines"


def test_place_raises_invalid_value_on_lines_when_there_are_too_many_lines() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line(f"S{i}") for i in range(MAX_LINES + 1)])

    assert err.value.field == "lines"


def test_place_raises_invalid_value_on_second_sku_when_sku_appears_twice() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A"), line("B"), line("A", 5)])

    assert err.value.field == "lines[2].sku"
    assert "'A'" in err.value.detail


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, 10**9])
def test_place_raises_invalid_value_on_line_quantity_when_quantity_out_of_range(
    quantity: int,
) -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A", 1), line("B", quantity)])

    assert err.value.field == "lines[1].quantity"


def test_place_raises_invalid_value_on_line_currency_when_currencies_are_mixed() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A", 1, eur(100)), line("B", 1, Money(100, "USD"))])

    assert err.value.field == "lines[1].unit_price.currency"


def test_place_raises_invalid_value_on_line_price_when_unit_price_is_negative() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A", 1, eur(100)), line("B", 1, eur(-1))])

    assert err.value.field == "lines[1].unit_price"


def test_check_lines_reports_first_offending_line_when_several_are_invalid() -> None:
    with pytest.raises(InvalidValue) as err:
        check_lines([line("A", 0), line("A", 1)])

    assert err.value.field == "lines[0].quantity"


def test_place_raises_invalid_value_on_line_quantity_when_quantity_is_bool() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A", True)])  # type: ignore[arg-type]

    assert err.value.field == "lines[0].quantity"


def test_place_raises_invalid_value_on_line_quantity_when_quantity_is_fractional() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A", 1.5)])  # type: ignore[arg-type]

    assert err.value.field == "lines[0].quantity"


def test_place_raises_invalid_value_on_line_sku_when_sku_is_malformed() -> None:
    with pytest.raises(InvalidValue) as err:
        place([line("A"), line("not a sku")])

    assert err.value.field == "lines[1].sku"


def test_replaying_placed_event_reproduces_order_when_rebuilt() -> None:
    order = place()
    order.mark_paid("pay_1", order.total)
    order.ship("DHL", "TRACK1")

    copy = project_aggregate(None, order.collect_events())

    assert isinstance(copy, Order)
    assert (copy.id, copy.version, copy.status) == (order.id, 3, S.SHIPPED)
    assert (copy.lines, copy.total, copy.shipping_address, copy.customer_id) == (
        order.lines,
        eur(3499),
        ADDRESS,
        CUSTOMER,
    )


# --- lifecycle -------------------------------------------------------------------------------


def test_transitions_table_is_the_documented_lifecycle() -> None:
    assert {k: set(v) for k, v in TRANSITIONS.items()} == {
        "placed": {"paid", "cancelled"},
        "paid": {"shipped", "cancelled"},
        "shipped": {"delivered"},
        "delivered": {"refunded"},
        "cancelled": set(),
        "refunded": set(),
    }


ACTIONS: dict[str, Callable[[Order], None]] = {
    S.PAID: lambda o: o.mark_paid("pay_1", o.total),
    S.SHIPPED: lambda o: o.ship("DHL", "TRACK1"),
    S.DELIVERED: lambda o: o.deliver(),
    S.CANCELLED: lambda o: o.cancel("changed mind", by="customer"),
    S.REFUNDED: lambda o: o.refund("broken"),
}
PATHS: dict[str, list[str]] = {
    S.PLACED: [],
    S.PAID: [S.PAID],
    S.SHIPPED: [S.PAID, S.SHIPPED],
    S.DELIVERED: [S.PAID, S.SHIPPED, S.DELIVERED],
    S.CANCELLED: [S.CANCELLED],
    S.REFUNDED: [S.PAID, S.SHIPPED, S.DELIVERED, S.REFUNDED],
}
LEGAL = [(f, t) for f in PATHS for t in ACTIONS if t in TRANSITIONS[f]]
ILLEGAL = [(f, t) for f in PATHS for t in ACTIONS if t not in TRANSITIONS[f]]


def order_in(status: str) -> Order:
    order = place()
    for step in PATHS[status]:
        ACTIONS[step](order)
    assert order.status == status
    return order


def test_transition_lists_cover_every_pair_when_enumerated() -> None:
    assert len(LEGAL) == 6
    assert len(LEGAL) + len(ILLEGAL) == len(PATHS) * len(ACTIONS)


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_order_moves_to_target_when_transition_is_legal(current: str, target: str) -> None:
    order = order_in(current)
    version = order.version

    ACTIONS[target](order)

    assert order.status == target
    assert order.version == version + 1


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_order_raises_illegal_transition_when_transition_is_not_in_table(
    current: str, target: str
) -> None:
    order = order_in(current)
    version = order.version

    with pytest.raises(IllegalTransition) as err:
        ACTIONS[target](order)

    assert isinstance(err.value, Conflict)
    assert err.value.field == "status"
    assert current in err.value.detail and target in err.value.detail
    assert (order.status, order.version) == (current, version)


@pytest.mark.parametrize("current", list(PATHS))
def test_can_move_to_matches_table_when_asked(current: str) -> None:
    order = order_in(current)

    assert {t for t in PATHS if order.can_move_to(t)} == TRANSITIONS[current]


def test_cancel_records_reason_when_order_is_cancelled() -> None:
    order = place()

    order.cancel("out of stock", by="staff")

    assert (order.status, order.cancel_reason) == (S.CANCELLED, "out of stock")
    cancelled = order.pending_events[-1]
    assert type(cancelled).__name__ == "Cancelled"
    assert (cancelled.reason, cancelled.by) == ("out of stock", "staff")


def test_mark_paid_records_reference_and_amount_when_amount_matches() -> None:
    order = place()

    order.mark_paid("pay_42", eur(3499))

    assert order.status == S.PAID
    paid = order.pending_events[-1]
    assert type(paid).__name__ == "Paid"
    assert (paid.payment_ref, paid.amount) == ("pay_42", eur(3499))


@pytest.mark.parametrize("amount", [Money(3498, "EUR"), Money(3500, "EUR"), Money(3499, "USD")])
def test_mark_paid_raises_invalid_value_when_amount_does_not_match_total(amount: Money) -> None:
    order = place()

    with pytest.raises(InvalidValue):
        order.mark_paid("pay_1", amount)

    assert (order.status, order.version) == (S.PLACED, 1)
    assert [type(e).__name__ for e in order.pending_events] == ["Placed"]


def test_mark_paid_raises_illegal_transition_before_checking_amount_when_cancelled() -> None:
    order = order_in(S.CANCELLED)

    with pytest.raises(IllegalTransition):
        order.mark_paid("pay_1", eur(1))
