"""Order routes: place (atomic reservation), read, list, cancel, idempotency, read-your-writes."""

from __future__ import annotations

import dataclasses

import pytest
from litestar.testing import TestClient
from tillroll.aggregates.money import Money
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import CreateProduct
from tillroll.commands.context import CommandContext
from tillroll.infra.settings import Settings

from tests.api.conftest import ADDRESS, Shop, assert_problem
from tests.conftest import open_accounts
from tillroll.bootstrap import Runtime, http_app


def test_placing_an_order_reserves_stock_and_reads_back(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    shop.product("PEN", 300, stock=10)
    response = shop.order([("MUG", 2, 1200), ("PEN", 1, 300)])
    assert response.status_code == 201
    placed = response.json()
    assert placed["status"] == "placed" and placed["total"] == {"amount": 2700, "currency": "EUR"}
    view = shop.get(
        f"/v1/orders/{placed['order_id']}", "customer", min_position=placed["position"]
    ).json()
    assert [
        (line["sku"], line["quantity"], line["line_total"]["amount"]) for line in view["lines"]
    ] == [
        ("MUG", 2, 2400),
        ("PEN", 1, 300),
    ]
    assert view["shipping_address"]["city"] == "Berlin"
    assert [h["status"] for h in view["status_history"]] == ["placed"]
    level = shop.get("/v1/inventory/MUG", "staff", min_position=placed["position"]).json()
    assert (level["reserved"], level["available"]) == (2, 8)


def test_an_unknown_sku_is_422_naming_the_line(shop: Shop) -> None:
    assert_problem(shop.order([("GHOST", 1, 100)]), 422, "lines[0].sku")


def test_a_unit_price_that_differs_from_the_catalog_is_422(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    body = assert_problem(shop.order([("MUG", 1, 999)]), 422, "lines[0].unit_price")
    assert body["expected"] == {"amount": 1200, "currency": "EUR"}


def test_short_stock_is_409_naming_the_sku_and_reserves_nothing(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    position = shop.product("RARE", 500, stock=1)
    body = assert_problem(shop.order([("MUG", 3, 1200), ("RARE", 2, 500)]), 409, "sku")
    assert (body["sku"], body["requested"], body["available"]) == ("RARE", 2, 1)
    level = shop.get("/v1/inventory/MUG", "staff", min_position=position).json()
    assert level["reserved"] == 0
    assert shop.get("/v1/orders", "customer", min_position=position).json()["items"] == []


@pytest.mark.parametrize("quantity", [0, -1, "2", 2.5, 10_001])
def test_a_bad_quantity_is_400_naming_the_line(shop: Shop, quantity: object) -> None:
    response = shop.post(
        "/v1/orders",
        "customer",
        {
            "lines": [
                {"sku": "MUG", "quantity": quantity, "unit_price": {"amount": 1, "currency": "EUR"}}
            ],
            "shipping_address": ADDRESS,
        },
    )
    assert_problem(response, 400, "lines[0].quantity")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [], "shipping_address": ADDRESS}, "lines"),
        (
            {
                "lines": [
                    {"sku": "MUG", "quantity": 1, "unit_price": {"amount": 1, "currency": "EUR"}}
                ]
            },
            "shipping_address",
        ),
        (
            {
                "lines": [
                    {"sku": "MUG", "quantity": 1, "unit_price": {"amount": 1, "currency": "EUR"}}
                ],
                "shipping_address": {**ADDRESS, "country": "Germany"},
            },
            "shipping_address.country",
        ),
        ({"lines": "MUG", "shipping_address": ADDRESS}, "lines"),
    ],
)
def test_a_malformed_order_is_400_naming_the_field(shop: Shop, body: dict, field: str) -> None:
    assert_problem(shop.post("/v1/orders", "customer", body), 400, field)


def test_a_body_that_is_not_json_is_400(shop: Shop) -> None:
    response = shop.client.post(
        "/v1/orders",
        content=b"{not json",
        headers={**shop.headers["customer"], "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_another_customer_cannot_see_or_cancel_an_order(shop: Shop, runtime: Runtime) -> None:
    from tillroll.commands.bus import dispatch
    from tillroll.commands.context import SYSTEM
    from tillroll.commands.identity import OpenAccount

    dispatch(
        OpenAccount("bob@example.com", "Bob", "customer", "tillroll-demo"),
        runtime.command_context(SYSTEM),
    )
    bob = shop.login("customer", "bob@example.com")
    shop.product("MUG", 1200, stock=10)
    placed = shop.order([("MUG", 1, 1200)]).json()
    order_id = placed["order_id"]
    response = shop.client.get(
        f"/v1/orders/{order_id}?min_position={placed['position']}", headers=bob
    )
    assert_problem(response, 404)
    assert_problem(shop.client.post(f"/v1/orders/{order_id}/cancel", headers=bob), 404)
    listed = shop.client.get(f"/v1/orders?min_position={placed['position']}", headers=bob).json()
    assert listed["items"] == []
    staff_view = shop.get(f"/v1/orders/{order_id}", "staff")
    assert staff_view.status_code == 200


def test_cancelling_releases_the_stock_and_records_the_status(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    placed = shop.order([("MUG", 4, 1200)]).json()
    response = shop.post(
        f"/v1/orders/{placed['order_id']}/cancel", "customer", {"reason": "changed mind"}
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    position = response.json()["position"]
    view = shop.get(f"/v1/orders/{placed['order_id']}", "customer", min_position=position).json()
    assert [h["status"] for h in view["status_history"]] == ["placed", "cancelled"]
    assert view["status_history"][1]["reason"] == "changed mind"
    assert shop.get("/v1/inventory/MUG", "staff", min_position=position).json()["available"] == 10
    assert_problem(shop.post(f"/v1/orders/{placed['order_id']}/cancel", "customer"), 409)


def test_staff_list_every_order_and_customers_their_own(shop: Shop, runtime: Runtime) -> None:
    shop.product("MUG", 1200, stock=10)
    first = shop.order([("MUG", 1, 1200)]).json()
    second = shop.order([("MUG", 2, 1200)]).json()
    shop.post(f"/v1/orders/{first['order_id']}/cancel", "staff")
    position = shop.get("/health").status_code and runtime.store.head()
    mine = shop.get("/v1/orders", "customer", min_position=position).json()["items"]
    assert [o["order_id"] for o in mine] == [second["order_id"], first["order_id"]]
    cancelled = shop.get("/v1/orders", "staff", status="cancelled", min_position=position).json()[
        "items"
    ]
    assert [o["order_id"] for o in cancelled] == [first["order_id"]]
    page = shop.get("/v1/orders", "staff", limit=1, min_position=position).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = shop.get("/v1/orders", "staff", limit=1, cursor=page["next_cursor"]).json()
    assert rest["items"][0]["order_id"] == first["order_id"]


def test_a_repeated_idempotency_key_returns_the_first_order_and_reserves_once(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    first = shop.order([("MUG", 3, 1200)], **{"Idempotency-Key": "checkout-1"})
    again = shop.order([("MUG", 3, 1200)], **{"Idempotency-Key": "checkout-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    level = shop.get("/v1/inventory/MUG", "staff", min_position=first.json()["position"]).json()
    assert level["reserved"] == 3


def test_an_idempotency_key_reused_with_another_body_is_409(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=10)
    shop.order([("MUG", 1, 1200)], **{"Idempotency-Key": "checkout-2"})
    response = shop.order([("MUG", 2, 1200)], **{"Idempotency-Key": "checkout-2"})
    assert_problem(response, 409, "Idempotency-Key")


def test_a_read_model_that_cannot_reach_min_position_answers_503(
    settings: Settings,
) -> None:
    rt = Runtime.open(dataclasses.replace(settings, read_wait_seconds=0.2))
    try:
        open_accounts(rt)
        position = dispatch(
            CreateProduct("NOT-PROJECTED", "Mug", Money(1200, "EUR")), CommandContext(rt.store)
        ).position
        with TestClient(http_app(rt, run_projections=False)) as client:
            response = client.get(f"/v1/products/MUG?min_position={position}")
    finally:
        rt.close()
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert body["read_model"] == "product_cards" and body["min_position"] == position


def test_a_min_position_that_names_no_event_is_refused(shop: Shop) -> None:
    body = assert_problem(shop.get("/v1/products/MUG", min_position=10**12), 422)
    assert "min_position" in str(body)
