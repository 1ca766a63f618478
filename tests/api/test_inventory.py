"""Inventory routes: receipts, adjustments, stock levels and the ledger."""

from __future__ import annotations

import pytest

from tests.api.conftest import Shop, assert_problem


def test_a_receipt_raises_on_hand_in_the_stock_level(shop: Shop) -> None:
    shop.product("BOLT")
    response = shop.post(
        "/v1/inventory/BOLT/receipts", "staff", {"quantity": 12, "note": "delivery"}
    )
    assert response.status_code == 201
    assert response.json()["on_hand"] == 12
    level = shop.get("/v1/inventory/BOLT", "staff", min_position=response.json()["position"])
    assert level.json() == {"sku": "BOLT", "on_hand": 12, "reserved": 0, "available": 12}


def test_a_receipt_for_an_unknown_product_is_404(shop: Shop) -> None:
    assert_problem(shop.post("/v1/inventory/NOPE/receipts", "staff", {"quantity": 1}), 404, "sku")


@pytest.mark.parametrize("quantity", [0, -3, "7", 1.5, None, True])
def test_a_receipt_needs_a_positive_integer_quantity(shop: Shop, quantity: object) -> None:
    shop.product("BOLT")
    response = shop.post("/v1/inventory/BOLT/receipts", "staff", {"quantity": quantity})
    assert_problem(response, 400, "quantity")


def test_an_adjustment_below_what_is_reserved_is_409(shop: Shop) -> None:
    shop.product("BOLT", 100, stock=5)
    assert shop.order([("BOLT", 4, 100)]).status_code == 201
    response = shop.post(
        "/v1/inventory/BOLT/adjustments", "staff", {"delta": -2, "reason": "count"}
    )
    assert_problem(response, 409, "delta")


def test_an_adjustment_without_a_reason_is_400(shop: Shop) -> None:
    shop.product("BOLT", 100, stock=5)
    response = shop.post("/v1/inventory/BOLT/adjustments", "staff", {"delta": -1, "reason": ""})
    assert_problem(response, 400, "reason")


def test_the_ledger_lists_every_movement_with_its_cause(shop: Shop) -> None:
    shop.product("BOLT", 100, stock=5)
    order = shop.order([("BOLT", 2, 100)]).json()
    adjusted = shop.post(
        "/v1/inventory/BOLT/adjustments", "staff", {"delta": -1, "reason": "broken"}
    )
    body = shop.get(
        "/v1/inventory/BOLT/ledger", "staff", min_position=adjusted.json()["position"]
    ).json()
    moves = [
        (m["kind"], m["on_hand_change"], m["reserved_change"], m["order_id"], m["note"])
        for m in body["items"]
    ]
    assert moves == [
        ("received", 5, 0, None, ""),
        ("reserved", 0, 2, order["order_id"], ""),
        ("adjusted", -1, 0, None, "broken"),
    ]


def test_an_unknown_stock_level_is_404(shop: Shop) -> None:
    assert_problem(shop.get("/v1/inventory/NOPE", "staff"), 404)
