"""Customers and carts together: a guest cart merged at login, a cart priced and checked out
at the tier staff set on the Customer, and checkout to a saved address (someone else's is
not found)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ADDRESS, Shop, assert_problem
from tests.api.test_customers import PASSWORD, Me, register
from tillroll.bootstrap import Runtime


def _cart(shop: Shop, headers: dict[str, str] | None = None) -> str:
    response = shop.client.post("/v1/carts", headers=headers or {})
    assert response.status_code in (200, 201), response.text
    return response.json()["cart_id"]


def _add(shop: Shop, cart: str, sku: str, qty: int, headers: dict[str, str] | None = None) -> Any:
    response = shop.client.post(
        f"/v1/carts/{cart}/items", json={"sku": sku, "quantity": qty}, headers=headers or {}
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_guest_cart_is_merged_into_the_customers_cart_at_login(
    shop: Shop, runtime: Runtime
) -> None:
    shop.product("MUG", 1200, stock=10)
    register(shop)
    guest = _cart(shop)
    _add(shop, guest, "MUG", 2)
    response = shop.client.post(
        "/v1/auth/login",
        json={
            "email": "ada@example.com",
            "password": PASSWORD,
            "guest_cart_id": guest,
        },
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    mine = tokens["cart_id"]
    assert mine and mine != guest
    viewed = shop.client.get(f"/v1/carts/{mine}", headers=headers, params={"min_position": 0})
    position = shop.client.get("/v1/audit/verify", headers=shop.headers["auditor"]).json()[
        "position"
    ]
    viewed = shop.client.get(
        f"/v1/carts/{mine}", headers=headers, params={"min_position": position}
    )
    assert {line["sku"]: line["quantity"] for line in viewed.json()["lines"]} == {"MUG": 2}
    # A second login with the same (now merged) guest cart is still a login.
    again = shop.client.post(
        "/v1/auth/login",
        json={
            "email": "ada@example.com",
            "password": PASSWORD,
            "guest_cart_id": guest,
        },
    )
    assert again.status_code == 200 and again.json()["cart_id"] is None


def test_a_cart_is_priced_and_checked_out_at_the_customers_tier_to_a_saved_address(
    shop: Shop,
) -> None:
    shop.product("MUG", 1200, stock=5)
    shop.post(
        "/v1/products/MUG/tier-prices",
        "staff",
        {"tier": "gold", "price": {"amount": 999, "currency": "EUR"}},
    )
    me = Me(shop)
    staff = shop.client.put(
        f"/v1/customers/{me.id}/tier", json={"tier": "gold"}, headers=shop.headers["staff"]
    )
    assert staff.status_code == 200, staff.text
    home, _ = me.add(ADDRESS)
    cart = _cart(shop, me.headers)
    added = _add(shop, cart, "MUG", 2, me.headers)
    viewed = me.get(f"/v1/carts/{cart}", min_position=added["position"]).json()
    assert viewed["lines"][0]["unit_price"]["amount"] == 999
    assert viewed["total"]["amount"] == 1998

    other = Me(shop, "bob@example.com")
    bob_home, _ = other.add(ADDRESS)
    assert_problem(me.post(f"/v1/carts/{cart}/checkout", {"address_id": bob_home}), 404)
    placed = me.post(f"/v1/carts/{cart}/checkout", {"address_id": home})
    assert placed.status_code == 201, placed.text
    assert placed.json()["total"]["amount"] == 1998
