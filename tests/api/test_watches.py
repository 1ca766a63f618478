"""Price watches over HTTP: watch (again: a new target), list, stop; problems for an unknown
product, a target in another currency and a watch that does not exist."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Shop, assert_problem


def watches(shop: Shop, response: Any) -> list[dict[str, Any]]:
    position = int(response.headers["X-Log-Position"])
    listed = shop.get("/v1/me/watches", "customer", min_position=position)
    assert listed.status_code == 200, listed.text
    return listed.json()


def test_a_customer_watches_changes_the_target_lists_and_stops_watching(shop: Shop) -> None:
    shop.product("MUG", 2000)
    shop.product("PEN", 300)
    first = shop.post("/v1/me/watches", "customer", {"sku": "MUG"})
    assert first.status_code == 201, first.text
    target = {"sku": "PEN", "target_price": {"amount": 250, "currency": "EUR"}}
    assert shop.post("/v1/me/watches", "customer", target).status_code == 201
    lowered = {"sku": "PEN", "target_price": {"amount": 199, "currency": "EUR"}}
    changed = shop.post("/v1/me/watches", "customer", lowered)

    listed = watches(shop, changed)
    assert [(w["sku"], w["target_price"]) for w in listed] == [
        ("MUG", None),
        ("PEN", {"amount": 199, "currency": "EUR"}),
    ]

    stopped = shop.client.delete("/v1/me/watches/MUG", headers=shop.headers["customer"])
    assert stopped.status_code == 200, stopped.text
    assert [w["sku"] for w in watches(shop, stopped)] == ["PEN"]
    again = shop.client.delete("/v1/me/watches/MUG", headers=shop.headers["customer"])
    assert_problem(again, 404, "sku")


def test_watching_an_unknown_product_or_in_another_currency_is_refused(shop: Shop) -> None:
    shop.product("MUG", 2000)
    assert_problem(shop.post("/v1/me/watches", "customer", {"sku": "NOPE"}), 422, "sku")
    usd = {"sku": "MUG", "target_price": {"amount": 100, "currency": "USD"}}
    assert_problem(shop.post("/v1/me/watches", "customer", usd), 422, "target_price.currency")
