"""Payments against a local fake Stripe (the real `stripe` library pointed at it): intents
created once per order and attempt, webhooks verified before anything else and applied once
per event id, refunds through the Refund API with their own idempotency keys."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient
from psycopg.sql import SQL, Identifier
from tillroll.aggregates.ordering.order import Order
from tillroll.infra.settings import Settings
from tillroll.infra.stripe_gateway import StripeGateway, StripeWebhooks

from tests.api.conftest import Shop, assert_problem
from tests.conftest import open_accounts
from tests.integration.fake_stripe import FakeStripe, fake_stripe
from tillroll.bootstrap import Runtime, http_app
from tillroll.worker import work

SECRET = "whsec_test_" + "s" * 24


@pytest.fixture
def stripe_fake() -> Iterator[FakeStripe]:
    with fake_stripe() as fake:
        yield fake


@pytest.fixture
def stripe_runtime(settings: Settings, stripe_fake: FakeStripe) -> Iterator[Runtime]:
    rt = Runtime.open(
        dataclasses.replace(
            settings,
            stripe_api_key="sk_test_fake",
            stripe_api_base=stripe_fake.url,
            stripe_webhook_secret=SECRET,
        )
    )
    yield rt
    rt.close()


@pytest.fixture
def shop(stripe_runtime: Runtime) -> Iterator[Shop]:
    open_accounts(stripe_runtime)
    with TestClient(http_app(stripe_runtime, run_projections=True)) as client:
        yield Shop(client)


def sign(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def event(kind: str, obj: dict[str, Any]) -> bytes:
    body = {"id": f"evt_{uuid4().hex}", "object": "event", "type": kind, "data": {"object": obj}}
    return json.dumps(body).encode()


def webhook(shop: Shop, payload: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return shop.client.post("/v1/webhooks/stripe", content=payload, headers=headers)


def placed_and_started(shop: Shop, fake: FakeStripe) -> tuple[str, dict[str, Any]]:
    shop.product("MUG", 1200, stock=10)
    order_id = shop.order([("MUG", 2, 1200)]).json()["order_id"]
    started = shop.post(f"/v1/orders/{order_id}/payment", "customer")
    assert started.status_code == 200, started.text
    return order_id, started.json()


def succeeded(fake: FakeStripe, intent_id: str) -> bytes:
    return event("payment_intent.succeeded", fake.succeed(intent_id))


def order_of(rt: Runtime, order_id: str) -> Order:
    return rt.store.get(UUID(order_id))


def reaction_position(rt: Runtime, name: str) -> int:
    with rt.read_pool.connection() as conn:
        row = conn.execute(
            SQL("SELECT position FROM {} WHERE name = %s").format(Identifier("reaction_positions")),
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


def run_jobs_after(rt: Runtime, position: int) -> None:
    """Wait until the refunds reaction has seen `position`, then run its jobs (burst)."""
    deadline = time.monotonic() + 10
    while reaction_position(rt, "refunds") < position:
        assert time.monotonic() < deadline, "the refunds reaction did not catch up"
        time.sleep(0.02)
    work(rt, burst=True)


def test_the_gateway_creates_one_intent_per_key_and_one_refund_per_refund_id(
    stripe_fake: FakeStripe,
) -> None:
    gateway = StripeGateway("sk_test_fake", StripeWebhooks(SECRET), stripe_fake.url)
    order_id = uuid4()
    first = gateway.create_intent(order_id, 2400, "EUR", "tillroll-order-x-attempt-1")
    again = gateway.create_intent(order_id, 2400, "EUR", "tillroll-order-x-attempt-1")
    assert again == first and len(stripe_fake.intents) == 1
    assert stripe_fake.intents[first.id]["metadata"] == {"order_id": str(order_id)}
    stripe_fake.succeed(first.id)
    refund = gateway.refund(first.id, 500, "r-1")
    assert gateway.refund(first.id, 500, "r-1") == refund and len(stripe_fake.refunds) == 1
    assert (refund.refund_id, refund.amount, refund.status) == ("r-1", 500, "succeeded")
    assert gateway.refunds_of(first.id) == [refund]
    posted = [key for method, _, key in stripe_fake.requests if method == "POST"]
    assert posted == ["tillroll-order-x-attempt-1"] * 2 + ["r-1"] * 2


def test_the_payment_route_creates_the_intent_for_the_orders_total_once(
    shop: Shop, stripe_fake: FakeStripe
) -> None:
    order_id, started = placed_and_started(shop, stripe_fake)
    again = shop.post(f"/v1/orders/{order_id}/payment", "customer").json()
    assert again["payment_intent_id"] == started["payment_intent_id"]
    assert started["client_secret"] and started["status"] == "requires_payment_method"
    (intent,) = stripe_fake.intents.values()
    assert (intent["amount"], intent["currency"]) == (2400, "eur")
    keys = [key for method, path, key in stripe_fake.requests if path == "/v1/payment_intents"]
    assert keys == [f"tillroll-order-{order_id}-attempt-1"]


def test_a_signed_success_marks_the_order_paid_and_commits_its_stock(
    shop: Shop, stripe_fake: FakeStripe, stripe_runtime: Runtime
) -> None:
    order_id, started = placed_and_started(shop, stripe_fake)
    payload = succeeded(stripe_fake, started["payment_intent_id"])
    response = webhook(shop, payload, sign(payload))
    assert response.status_code == 200 and response.json()["outcome"] == "paid"
    assert order_of(stripe_runtime, order_id).status == "paid"
    position = response.json()["position"]
    level = shop.get("/v1/inventory/MUG", "staff", min_position=position).json()
    assert (level["on_hand"], level["reserved"], level["available"]) == (8, 0, 8)


@pytest.mark.parametrize("case", ["tampered", "wrong secret", "stale", "missing", "garbage"])
def test_a_webhook_that_does_not_verify_is_400_and_changes_nothing(
    shop: Shop, stripe_fake: FakeStripe, stripe_runtime: Runtime, case: str
) -> None:
    order_id, started = placed_and_started(shop, stripe_fake)
    payload = succeeded(stripe_fake, started["payment_intent_id"])
    version = order_of(stripe_runtime, order_id).version
    head = stripe_runtime.store.head()
    signature: str | None = {
        "tampered": sign(payload),
        "wrong secret": sign(payload, secret="whsec_not_ours"),
        "stale": sign(payload, at=int(time.time()) - 3600),
        "missing": None,
        "garbage": "t=1,v1=00",
    }[case]
    if case == "tampered":
        tampered = payload.replace(b'"amount": 2400', b'"amount": 1')
        assert tampered != payload
        payload = tampered
    assert_problem(webhook(shop, payload, signature), 400)
    assert order_of(stripe_runtime, order_id).version == version
    assert stripe_runtime.store.head() == head


def test_the_same_event_twice_is_applied_once(
    shop: Shop, stripe_fake: FakeStripe, stripe_runtime: Runtime
) -> None:
    _, started = placed_and_started(shop, stripe_fake)
    payload = succeeded(stripe_fake, started["payment_intent_id"])
    first = webhook(shop, payload, sign(payload))
    assert first.json()["outcome"] == "paid"
    head = stripe_runtime.store.head()
    again = webhook(shop, payload, sign(payload))
    assert again.status_code == 200 and again.json() == first.json()
    assert stripe_runtime.store.head() == head


def test_a_success_after_cancellation_is_refunded_through_the_refund_api(
    shop: Shop, stripe_fake: FakeStripe, stripe_runtime: Runtime
) -> None:
    order_id, started = placed_and_started(shop, stripe_fake)
    assert shop.post(f"/v1/orders/{order_id}/cancel", "customer").status_code == 200
    payload = succeeded(stripe_fake, started["payment_intent_id"])
    response = webhook(shop, payload, sign(payload))
    assert response.json()["outcome"] == "refund_requested"
    run_jobs_after(stripe_runtime, response.json()["position"])
    (refund,) = stripe_fake.refunds.values()
    assert (refund["amount"], refund["payment_intent"]) == (2400, started["payment_intent_id"])
    refund_id = refund["metadata"]["tillroll_refund_id"]
    assert [k for _, path, k in stripe_fake.requests if path == "/v1/refunds"] == [refund_id]
    order = order_of(stripe_runtime, order_id)
    assert order.status == "cancelled" and order.refunded == {refund_id: 2400}


def test_staff_refunds_part_then_the_rest_never_more(
    shop: Shop, stripe_fake: FakeStripe, stripe_runtime: Runtime
) -> None:
    order_id, started = placed_and_started(shop, stripe_fake)
    payload = succeeded(stripe_fake, started["payment_intent_id"])
    webhook(shop, payload, sign(payload))
    shop.post(f"/v1/orders/{order_id}/ship", "staff", {"carrier": "DHL", "tracking_number": "T"})
    partial = shop.post(f"/v1/orders/{order_id}/refund", "staff", {"amount": 400})
    assert partial.status_code == 202 and partial.json()["refundable"]["amount"] == 2000
    assert_problem(shop.post(f"/v1/orders/{order_id}/refund", "staff", {"amount": 2001}), 409)
    rest = shop.post(f"/v1/orders/{order_id}/refund", "staff")
    assert rest.json()["amount"]["amount"] == 2000
    run_jobs_after(stripe_runtime, rest.json()["position"])
    assert sorted(r["amount"] for r in stripe_fake.refunds.values()) == [400, 2000]
    assert order_of(stripe_runtime, order_id).refunded_total.amount == 2400
    charge = {"id": "ch_1", "payment_intent": started["payment_intent_id"], "metadata": {}}
    charge["metadata"]["order_id"] = order_id
    payload = event("charge.refunded", charge)
    assert webhook(shop, payload, sign(payload)).json()["outcome"] == "ignored"  # known already


def test_the_dev_payment_routes_are_404_outside_test_mode(
    shop: Shop, stripe_fake: FakeStripe
) -> None:
    _, started = placed_and_started(shop, stripe_fake)
    intent_id = started["payment_intent_id"]
    assert_problem(shop.client.post(f"/v1/dev/payments/{intent_id}/succeed"), 404)
