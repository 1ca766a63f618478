"""Staff's catalog routes: tier prices, archive, images and attributes; their guards and
bad input; what a customer sees of them (orders, search, cards, price history)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Shop, assert_problem

EUR = "EUR"


def patch(shop: Shop, path: str, role: str | None, body: Any) -> Any:
    headers = shop.headers[role] if role else {}
    return shop.client.patch(path, json=body, headers=headers)


def tier_price(shop: Shop, sku: str, tier: str, cents: int) -> Any:
    body = {"tier": tier, "price": {"amount": cents, "currency": EUR}}
    return shop.post(f"/v1/products/{sku}/tier-prices", "staff", body)


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), ("customer", 403), ("auditor", 403), ("ops", 403)]
)
def test_only_staff_archive_set_tier_prices_or_change_details(
    shop: Shop, role: str | None, status: int
) -> None:
    shop.product("MUG")
    headers = shop.headers[role] if role else {}
    body = {"tier": "gold", "price": {"amount": 1, "currency": EUR}}
    for path, payload in [
        ("/v1/products/MUG/archive", None),
        ("/v1/products/MUG/tier-prices", body),
    ]:
        assert_problem(shop.client.post(path, json=payload, headers=headers), status)
    assert_problem(patch(shop, "/v1/products/MUG", role, {"attributes": {}}), status)


def test_a_tier_price_shows_on_the_card_and_in_its_own_price_history(shop: Shop) -> None:
    shop.product("MUG", 1200)
    tier_price(shop, "MUG", "gold", 1000)
    position = tier_price(shop, "MUG", "gold", 950).json()["position"]
    card = shop.get("/v1/products/MUG", min_position=position).json()
    assert card["price"] == {"amount": 1200, "currency": EUR}
    assert card["tier_prices"] == {"gold": {"amount": 950, "currency": EUR}}
    gold = shop.get("/v1/products/MUG/price-history", tier="gold", min_position=position).json()
    assert [(p["tier"], p["price"]["amount"]) for p in gold["items"]] == [
        ("gold", 1000),
        ("gold", 950),
    ]
    base = shop.get("/v1/products/MUG/price-history", min_position=position).json()
    assert [p["price"]["amount"] for p in base["items"]] == [1200]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"tier": "platinum", "price": {"amount": 1, "currency": EUR}}, 400, "tier"),
        ({"tier": "gold\n", "price": {"amount": 1, "currency": EUR}}, 400, "tier"),
        ({"tier": "gold", "price": {"amount": -1, "currency": EUR}}, 400, "price.amount"),
        ({"tier": "gold"}, 400, "price"),
        ({"tier": "gold", "price": {"amount": 1, "currency": "USD"}}, 422, "price.currency"),
    ],
)
def test_bad_tier_prices_name_the_field(shop: Shop, body: dict, status: int, field: str) -> None:
    shop.product("MUG")
    assert_problem(shop.post("/v1/products/MUG/tier-prices", "staff", body), status, field)


def test_a_tier_price_for_an_unknown_product_is_404(shop: Shop) -> None:
    assert_problem(tier_price(shop, "NOPE", "gold", 1), 404, "sku")


def test_a_bad_tier_in_the_price_history_query_is_400(shop: Shop) -> None:
    assert_problem(shop.get("/v1/products/MUG/price-history", tier="vip"), 400, "tier")


def test_an_archived_product_cannot_be_ordered_hides_from_search_and_keeps_its_card(
    shop: Shop,
) -> None:
    shop.product("MUG", 900, stock=5)
    placed = shop.order([("MUG", 1, 900)])
    assert placed.status_code == 201
    response = shop.post("/v1/products/MUG/archive", "staff")
    assert response.status_code == 200
    position = response.json()["position"]
    body = assert_problem(shop.order([("MUG", 1, 900)]), 409, "lines[0].sku")
    assert body["sku"] == "MUG"
    assert shop.get("/v1/products", q="mug", min_position=position).json()["items"] == []
    card = shop.get("/v1/products/MUG", min_position=position).json()
    assert card["archived"] is True and card["sku"] == "MUG"
    placed_body = placed.json()
    order = shop.get(
        f"/v1/orders/{placed_body['order_id']}", "customer", min_position=placed_body["position"]
    ).json()
    assert order["lines"][0]["sku"] == "MUG"


def test_images_and_attributes_reach_the_card_and_the_search(shop: Shop) -> None:
    shop.product("TEE", 2000, images=[{"url": "https://cdn.example.com/tee.jpg", "alt": "Tee"}])
    response = patch(
        shop, "/v1/products/TEE", "staff", {"attributes": {"colour": "black", "size": "M"}}
    )
    assert response.status_code == 200, response.text
    position = response.json()["position"]
    card = shop.get("/v1/products/TEE", min_position=position).json()
    assert card["images"] == [{"url": "https://cdn.example.com/tee.jpg", "alt": "Tee"}]
    assert card["attributes"] == {"colour": "black", "size": "M"}
    found = shop.get("/v1/products", attribute="colour:black", min_position=position).json()
    assert [item["sku"] for item in found["items"]] == ["TEE"]
    assert found["facets"]["attribute"] == {"colour": {"black": 1}, "size": {"M": 1}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"images": [{"url": "ftp://x/y.jpg"}]}, "images[0].url"),
        ({"images": [{"url": "https://x/y.jpg", "alt": 5}]}, "images[0].alt"),
        ({"attributes": {"Colour": "red"}}, "attributes"),
        ({"attributes": {"colour": ""}}, "attributes"),
    ],
)
def test_bad_images_or_attributes_are_400_naming_the_field(
    shop: Shop, body: dict, field: str
) -> None:
    shop.product("TEE")
    assert_problem(patch(shop, "/v1/products/TEE", "staff", body), 400, field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"attribute": "colour"}, "attribute"),
        ({"sort": "relevance\n"}, "sort"),
        ({"cursor": "eyJ4Ijo1fQ"}, "cursor"),
    ],
)
def test_bad_search_input_is_400_naming_the_field(shop: Shop, params: dict, field: str) -> None:
    assert_problem(shop.get("/v1/products", **params), 400, field)


def test_a_cursor_edited_by_hand_is_400_not_500(shop: Shop) -> None:
    shop.product("A", 100)
    position = shop.product("B", 200)
    body = shop.get("/v1/products", sort="price", limit=1, min_position=position).json()
    cursor = body["next_cursor"]
    import base64
    import json

    values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    values[0] = "not a price"
    forged = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    assert_problem(shop.get("/v1/products", sort="price", limit=1, cursor=forged), 400, "cursor")
