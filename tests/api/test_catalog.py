"""Catalog routes: create, price changes, cards, search, price history."""

from __future__ import annotations

import pytest

from tests.api.conftest import Shop, assert_problem


def test_creating_a_product_answers_201_with_its_log_position(shop: Shop) -> None:
    response = shop.post(
        "/v1/products",
        "staff",
        {"sku": "MUG-1", "name": "Mug", "price": {"amount": 1299, "currency": "EUR"}},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["sku"] == "MUG-1" and body["price"] == {"amount": 1299, "currency": "EUR"}
    assert body["position"] > 0 and response.headers["x-log-position"] == str(body["position"])


def test_creating_a_product_twice_is_409(shop: Shop) -> None:
    shop.product("MUG-1")
    response = shop.post(
        "/v1/products",
        "staff",
        {"sku": "MUG-1", "name": "Again", "price": {"amount": 1, "currency": "EUR"}},
    )
    assert_problem(response, 409, "sku")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"sku": "bad sku!", "name": "X", "price": {"amount": 1, "currency": "EUR"}}, 400, "sku"),
        ({"sku": "A", "name": 7, "price": {"amount": 1, "currency": "EUR"}}, 400, "name"),
        (
            {"sku": "A", "name": "X", "price": {"amount": -5, "currency": "EUR"}},
            400,
            "price.amount",
        ),
        (
            {"sku": "A", "name": "X", "price": {"amount": 1.5, "currency": "EUR"}},
            400,
            "price.amount",
        ),
        (
            {"sku": "A", "name": "X", "price": {"amount": 1, "currency": "EURO"}},
            400,
            "price.currency",
        ),
        ({"sku": "A", "name": "X", "price": {"amount": 1, "currency": "XXQ"}}, 422, "currency"),
        ({"sku": "A", "name": "X"}, 400, "price"),
        ({"sku": "A", "name": "", "price": {"amount": 1, "currency": "EUR"}}, 400, "name"),
    ],
)
def test_bad_product_input_is_a_problem_naming_the_field(
    shop: Shop, body: dict, status: int, field: str
) -> None:
    assert_problem(shop.post("/v1/products", "staff", body), status, field)


def test_a_card_shows_the_current_price_and_available_stock(shop: Shop) -> None:
    shop.product("LAMP", 4500, stock=7)
    position = shop.post(
        "/v1/products/LAMP/price", "staff", {"price": {"amount": 3900, "currency": "EUR"}}
    ).json()["position"]
    response = shop.get("/v1/products/LAMP", min_position=position)
    assert response.status_code == 200
    card = response.json()
    assert card["price"] == {"amount": 3900, "currency": "EUR"}
    assert card["available"] == 7 and card["in_stock"] is True
    assert int(response.headers["x-read-model-position"]) >= position


def test_an_unknown_product_card_is_404(shop: Shop) -> None:
    assert_problem(shop.get("/v1/products/NOPE"), 404)


def test_changing_the_price_of_an_unknown_product_is_404(shop: Shop) -> None:
    response = shop.post(
        "/v1/products/NOPE/price", "staff", {"price": {"amount": 1, "currency": "EUR"}}
    )
    assert_problem(response, 404, "sku")


def test_price_history_lists_every_price_in_order(shop: Shop) -> None:
    shop.product("PEN", 250)
    shop.post("/v1/products/PEN/price", "staff", {"price": {"amount": 275, "currency": "EUR"}})
    position = shop.post(
        "/v1/products/PEN/price", "staff", {"price": {"amount": 300, "currency": "EUR"}}
    ).json()["position"]
    body = shop.get("/v1/products/PEN/price-history", min_position=position).json()
    assert [item["price"]["amount"] for item in body["items"]] == [250, 275, 300]
    assert body["next_cursor"] is None


def _catalog(shop: Shop) -> int:
    shop.product(
        "TEE-S", 1500, stock=3, category="apparel", tags=["cotton"], description="Soft tee"
    )
    shop.product("TEE-L", 1700, stock=0, category="apparel", tags=["cotton"])
    shop.product("MUG", 900, stock=5, category="kitchen", tags=["ceramic", "gift"])
    return shop.product("BOOK", 2500, stock=1, category="stationery", tags=["gift", "paper"])


@pytest.mark.parametrize(
    ("params", "skus"),
    [
        ({"q": "tee"}, ["TEE-L", "TEE-S"]),
        ({"q": "soft"}, ["TEE-S"]),
        ({"category": "apparel"}, ["TEE-L", "TEE-S"]),
        ({"tag": "gift"}, ["BOOK", "MUG"]),
        ({"min_price": 1600}, ["BOOK", "TEE-L"]),
        ({"max_price": 1500}, ["MUG", "TEE-S"]),
        ({"in_stock": "true"}, ["BOOK", "MUG", "TEE-S"]),
        ({"in_stock": "false"}, ["TEE-L"]),
        ({"sort": "price"}, ["MUG", "TEE-S", "TEE-L", "BOOK"]),
        ({"sort": "-price"}, ["BOOK", "TEE-L", "TEE-S", "MUG"]),
    ],
)
def test_search_filters_and_sorts(shop: Shop, params: dict, skus: list[str]) -> None:
    position = _catalog(shop)
    response = shop.get("/v1/products", min_position=position, **params)
    assert response.status_code == 200
    found = [item["sku"] for item in response.json()["items"]]
    assert found == skus if "sort" in params else sorted(found) == skus


@pytest.mark.parametrize("sort", ["sku", "price", "-price", "name", "newest"])
def test_search_pages_walk_every_product_once(shop: Shop, sort: str) -> None:
    position = _catalog(shop)
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 1, "sort": sort, "min_position": position}
        if cursor:
            params["cursor"] = cursor
        body = shop.get("/v1/products", **params).json()
        seen += [item["sku"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["BOOK", "MUG", "TEE-L", "TEE-S"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "garbage"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"sort": "cheapest"}, "sort"),
    ],
)
def test_bad_search_parameters_are_400(shop: Shop, params: dict, field: str) -> None:
    assert_problem(shop.get("/v1/products", **params), 400, field)
