"""The order's whole life over HTTP on the embedded default's test-mode payment provider:
pay (a signed webhook through the real route), ship in parts, deliver, return a line, get
its value refunded; illegal steps are 409 with the current state."""

from __future__ import annotations

import time
from uuid import UUID

from psycopg.sql import SQL, Identifier

from tests.api.conftest import Shop, assert_problem
from tillroll.bootstrap import Runtime
from tillroll.worker import work


def wait_for_reaction(rt: Runtime, name: str, position: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        with rt.read_pool.connection() as conn:
            row = conn.execute(
                SQL("SELECT position FROM {} WHERE name = %s").format(
                    Identifier("reaction_positions")
                ),
                (name,),
            ).fetchone()
        if row and int(row[0]) >= position:
            return
        assert time.monotonic() < deadline, f"reaction {name} did not reach {position}"
        time.sleep(0.02)


def paid_order(shop: Shop) -> str:
    shop.product("MUG", 1200, stock=10)
    shop.product("PEN", 300, stock=10)
    order_id = shop.order([("MUG", 2, 1200), ("PEN", 3, 300)]).json()["order_id"]
    intent = shop.post(f"/v1/orders/{order_id}/payment", "customer").json()
    assert intent["payment_intent_id"].startswith("pi_test_")
    paid = shop.client.post(f"/v1/dev/payments/{intent['payment_intent_id']}/succeed")
    assert paid.status_code == 200 and paid.json()["outcome"] == "paid", paid.text
    return order_id


def test_health_says_payments_run_in_test_mode(shop: Shop) -> None:
    assert shop.get("/health").headers["x-tillroll-payments"].startswith("test-mode")
    assert shop.get("/ready").json()["payments"].startswith("test-mode")


def test_a_failed_test_payment_is_recorded_and_the_next_attempt_gets_a_new_intent(
    shop: Shop, runtime: Runtime
) -> None:
    shop.product("MUG", 1200, stock=10)
    order_id = shop.order([("MUG", 1, 1200)]).json()["order_id"]
    first = shop.post(f"/v1/orders/{order_id}/payment", "customer").json()
    failed = shop.client.post(f"/v1/dev/payments/{first['payment_intent_id']}/fail").json()
    assert failed["outcome"] == "payment_failed"
    second = shop.post(f"/v1/orders/{order_id}/payment", "customer").json()
    assert second["payment_intent_id"] != first["payment_intent_id"]
    view = shop.get(f"/v1/orders/{order_id}", "customer", min_position=failed["position"]).json()
    assert [h["status"] for h in view["status_history"]] == ["placed", "payment_failed"]


def test_pay_ship_in_parts_deliver_return_a_line_and_refund_it(
    shop: Shop, runtime: Runtime
) -> None:
    order_id = paid_order(shop)
    part = shop.post(
        f"/v1/orders/{order_id}/ship",
        "staff",
        {"carrier": "DHL", "tracking_number": "T1", "lines": [{"sku": "PEN", "quantity": 3}]},
    )
    assert part.json()["status"] == "partially_shipped"
    assert_problem(shop.post(f"/v1/orders/{order_id}/deliver", "staff"), 409)
    rest = shop.post(f"/v1/orders/{order_id}/ship", "staff", {"carrier": "DHL"}).json()
    assert rest["status"] == "shipped"
    assert shop.post(f"/v1/orders/{order_id}/deliver", "staff").json()["status"] == "delivered"

    asked = shop.post(
        f"/v1/orders/{order_id}/returns", "customer", {"lines": [{"sku": "MUG", "quantity": 1}]}
    )
    assert asked.status_code == 201
    return_id = asked.json()["return_id"]
    assert_problem(shop.post(f"/v1/returns/{return_id}/receive", "staff"), 409)
    assert shop.post(f"/v1/returns/{return_id}/accept", "staff").json()["status"] == "accepted"
    received = shop.post(f"/v1/returns/{return_id}/receive", "staff").json()
    assert received["status"] == "received" and received["refund_id"]

    level = shop.get("/v1/inventory/MUG", "staff", min_position=received["position"]).json()
    assert (level["on_hand"], level["reserved"]) == (9, 0)  # 10, 2 sold, 1 back
    wait_for_reaction(runtime, "refunds", received["position"])
    work(runtime, burst=True)
    order = runtime.store.get(UUID(order_id))
    assert order.refunded == {received["refund_id"]: 1200}
    history = shop.get(f"/v1/orders/{order_id}", "staff", min_position=runtime.store.head())
    assert [h["status"] for h in history.json()["status_history"]] == [
        "placed",
        "paid",
        "partially_shipped",
        "shipped",
        "delivered",
        "return_requested",
        "return_accepted",
        "return_received",
        "refund_requested",
        "partially_refunded",  # the returned line's value; the order stays delivered
    ]


def test_an_illegal_step_is_409_with_the_current_state(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    order_id = shop.order([("MUG", 1, 1200)]).json()["order_id"]
    body = assert_problem(shop.post(f"/v1/orders/{order_id}/ship", "staff", {}), 409, "status")
    assert body["current_status"] == "placed"


def test_cancelling_a_paid_order_puts_the_stock_back_and_refunds_it(
    shop: Shop, runtime: Runtime
) -> None:
    order_id = paid_order(shop)
    cancelled = shop.post(f"/v1/orders/{order_id}/cancel", "customer").json()
    level = shop.get("/v1/inventory/MUG", "staff", min_position=cancelled["position"]).json()
    assert (level["on_hand"], level["reserved"]) == (10, 0)
    wait_for_reaction(runtime, "refunds", cancelled["position"])
    work(runtime, burst=True)
    order = runtime.store.get(UUID(order_id))
    assert order.refunded_total.amount == order.paid_total.amount == 3300
