"""Cart routes: customer and guest carts, lines priced at read time, BOLA (someone else's
cart is a 404), guest merge, checkout (atomic, idempotent, price and stock checks)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient
from tillroll.aggregates.identity.account import Account
from tillroll.commands.bus import dispatch
from tillroll.commands.context import SYSTEM
from tillroll.commands.identity import OpenAccount

from tests.api.conftest import ADDRESS, Shop, assert_problem
from tests.conftest import DEMO_PASSWORD, open_accounts
from tillroll.bootstrap import Runtime, http_app

EUR = "EUR"


def add_customer(shop: Shop, runtime: Runtime, name: str) -> dict[str, str]:
    email = f"{name}@example.com"
    dispatch(
        OpenAccount(email, name.title(), "customer", DEMO_PASSWORD),
        runtime.command_context(SYSTEM),
    )
    return shop.login("customer", email)


@pytest.fixture
def other(shop: Shop, runtime: Runtime) -> dict[str, str]:
    """A second customer's headers."""
    return add_customer(shop, runtime, "mallory")


def open_cart(shop: Shop, headers: dict[str, str] | None = None) -> str:
    response = shop.client.post("/v1/carts", headers=headers or {})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["cart_id"])


def add(shop: Shop, cart: str, sku: str, qty: int, headers: dict[str, str] | None = None) -> Any:
    return shop.client.post(
        f"/v1/carts/{cart}/items", json={"sku": sku, "quantity": qty}, headers=headers or {}
    )


def view(shop: Shop, cart: str, position: int, headers: dict[str, str] | None = None) -> Any:
    return shop.client.get(
        f"/v1/carts/{cart}", params={"min_position": position}, headers=headers or {}
    )


def checkout(shop: Shop, cart: str, body: Any = None, key: str | None = None) -> Any:
    headers = dict(shop.headers["customer"])
    if key:
        headers["Idempotency-Key"] = key
    return shop.client.post(
        f"/v1/carts/{cart}/checkout",
        json=body if body is not None else {"shipping_address": ADDRESS},
        headers=headers,
    )


# --- opening carts -------------------------------------------------------------------------


def test_a_customer_gets_the_same_open_cart_each_time(shop: Shop) -> None:
    first = shop.client.post("/v1/carts", headers=shop.headers["customer"])
    again = shop.client.post("/v1/carts", headers=shop.headers["customer"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["cart_id"] == again.json()["cart_id"]


def test_guests_get_a_new_unguessable_cart_each_time(shop: Shop) -> None:
    one, two = open_cart(shop), open_cart(shop)
    assert one != two
    assert UUID(one).version == 4 and UUID(two).version == 4


def test_staff_have_no_cart(shop: Shop) -> None:
    assert_problem(shop.client.post("/v1/carts", headers=shop.headers["staff"]), 403)


def test_a_bad_token_on_a_public_cart_route_is_401_not_a_guest(shop: Shop) -> None:
    response = shop.client.post("/v1/carts", headers={"Authorization": "Bearer not-a-jwt"})
    assert_problem(response, 401)


# --- lines and the read model --------------------------------------------------------------


def test_a_guest_fills_a_cart_and_reads_it_with_current_prices_and_stock(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    shop.product("PEN", 300, stock=1)
    cart = open_cart(shop)
    assert add(shop, cart, "MUG", 1).status_code == 200
    assert add(shop, cart, "MUG", 2).status_code == 200  # adds to the line
    position = add(shop, cart, "PEN", 2).json()["position"]
    body = view(shop, cart, position).json()
    assert body["status"] == "open" and body["customer_id"] is None
    lines = {line["sku"]: line for line in body["lines"]}
    assert (lines["MUG"]["quantity"], lines["MUG"]["available"]) == (3, 5)
    assert lines["MUG"]["insufficient_stock"] is False
    assert (lines["PEN"]["quantity"], lines["PEN"]["insufficient_stock"]) == (2, True)
    assert body["total"] == {"amount": 3 * 1200 + 2 * 300, "currency": EUR}


def test_a_price_change_after_adding_is_flagged_and_totalled_at_the_new_price(
    shop: Shop,
) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    add(shop, cart, "MUG", 2, shop.headers["customer"])
    price = {"price": {"amount": 1500, "currency": EUR}}
    position = shop.post("/v1/products/MUG/price", "staff", price).json()["position"]
    line = view(shop, cart, position, shop.headers["customer"]).json()["lines"][0]
    assert line["added_price"]["amount"] == 1200 and line["unit_price"]["amount"] == 1500
    assert line["price_changed"] is True and line["line_total"]["amount"] == 3000


def test_patch_sets_a_quantity_zero_removes_and_delete_removes(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    shop.product("PEN", 300, stock=5)
    cart = open_cart(shop)
    add(shop, cart, "MUG", 1)
    add(shop, cart, "PEN", 1)
    patched = shop.client.patch(f"/v1/carts/{cart}/items/MUG", json={"quantity": 4})
    assert patched.status_code == 200, patched.text
    body = view(shop, cart, patched.json()["position"]).json()
    assert {line["sku"]: line["quantity"] for line in body["lines"]} == {"MUG": 4, "PEN": 1}
    zero = shop.client.patch(f"/v1/carts/{cart}/items/MUG", json={"quantity": 0})
    removed = shop.client.delete(f"/v1/carts/{cart}/items/PEN")
    assert (zero.status_code, removed.status_code) == (200, 200)
    body = view(shop, cart, removed.json()["position"]).json()
    assert body["lines"] == [] and body["total"] is None


def test_an_unknown_or_archived_product_is_422_naming_sku(shop: Shop) -> None:
    shop.product("OLD", 100, stock=5)
    shop.post("/v1/products/OLD/archive", "staff")
    cart = open_cart(shop)
    assert_problem(add(shop, cart, "GHOST", 1), 422, "sku")
    assert_problem(add(shop, cart, "OLD", 1), 422, "sku")


def test_a_quantity_beyond_the_limit_is_refused(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop)
    add(shop, cart, "MUG", 10_000)
    assert_problem(add(shop, cart, "MUG", 1), 422, "quantity")


def test_a_tier_customer_sees_and_adds_at_the_tier_price(runtime: Runtime) -> None:
    open_accounts(runtime)
    with TestClient(http_app(runtime, run_projections=True)) as client:
        shop = Shop(client)
        # The tier staff set on the customer (their Customer aggregate) prices cart and order.
        customer_id = Account.create_id("customer@example.com")
        tiered = shop.client.put(
            f"/v1/customers/{customer_id}/tier",
            json={"tier": "gold"},
            headers=shop.headers["staff"],
        )
        assert tiered.status_code == 200, tiered.text
        shop.product("MUG", 1200, stock=5)
        shop.post(
            "/v1/products/MUG/tier-prices",
            "staff",
            {"tier": "gold", "price": {"amount": 999, "currency": EUR}},
        )
        cart = open_cart(shop, shop.headers["customer"])
        position = add(shop, cart, "MUG", 1, shop.headers["customer"]).json()["position"]
        line = view(shop, cart, position, shop.headers["customer"]).json()["lines"][0]
        assert line["added_price"]["amount"] == 999 and line["unit_price"]["amount"] == 999
        assert line["price_changed"] is False
        placed = checkout(shop, cart)
        assert placed.status_code == 201, placed.text
        assert placed.json()["total"] == {"amount": 999, "currency": EUR}


# --- BOLA ----------------------------------------------------------------------------------


def test_another_customers_cart_is_404_on_every_route(shop: Shop, other: dict[str, str]) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    position = add(shop, cart, "MUG", 1, shop.headers["customer"]).json()["position"]
    for headers in (other, {}):  # another customer; a guest without a token
        assert_problem(view(shop, cart, position, headers), 404)
        assert_problem(add(shop, cart, "MUG", 1, headers), 404)
        assert_problem(
            shop.client.patch(f"/v1/carts/{cart}/items/MUG", json={"quantity": 2}, headers=headers),
            404,
        )
        assert_problem(shop.client.delete(f"/v1/carts/{cart}/items/MUG", headers=headers), 404)
        assert_problem(shop.client.delete(f"/v1/carts/{cart}/items", headers=headers), 404)
        assert_problem(
            shop.client.put(
                f"/v1/carts/{cart}/address", json={"shipping_address": ADDRESS}, headers=headers
            ),
            404,
        )
    assert_problem(
        shop.client.post(
            f"/v1/carts/{cart}/checkout", json={"shipping_address": ADDRESS}, headers=other
        ),
        404,
    )
    assert_problem(shop.client.post(f"/v1/carts/{cart}/merge", headers=other), 404)
    # and the owner's cart is untouched
    assert view(shop, cart, position, shop.headers["customer"]).json()["lines"][0]["quantity"] == 1


def test_a_cart_id_nobody_made_is_404(shop: Shop) -> None:
    assert_problem(view(shop, str(uuid.uuid4()), 0), 404)
    assert_problem(add(shop, str(uuid.uuid4()), "MUG", 1), 404)


def test_merge_and_checkout_need_a_customer_token(shop: Shop) -> None:
    cart = open_cart(shop)
    assert_problem(shop.client.post(f"/v1/carts/{cart}/merge"), 401)
    assert_problem(shop.client.post(f"/v1/carts/{cart}/checkout", json={}), 401)


# --- merge ---------------------------------------------------------------------------------


def test_a_guest_cart_merges_into_the_customers_cart_and_closes(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=50)
    shop.product("PEN", 300, stock=50)
    mine = open_cart(shop, shop.headers["customer"])
    add(shop, mine, "MUG", 2, shop.headers["customer"])
    guest = open_cart(shop)
    add(shop, guest, "MUG", 3)
    add(shop, guest, "PEN", 1)
    merged = shop.post(f"/v1/carts/{guest}/merge", "customer")
    assert merged.status_code == 200, merged.text
    assert merged.json()["cart_id"] == mine
    position = merged.json()["position"]
    body = view(shop, mine, position, shop.headers["customer"]).json()
    assert {line["sku"]: line["quantity"] for line in body["lines"]} == {"MUG": 5, "PEN": 1}
    closed = view(shop, guest, position).json()
    assert closed["status"] == "merged" and closed["merged_into"] == mine
    assert_problem(add(shop, guest, "PEN", 1), 409)  # a merged cart takes no more changes
    assert_problem(shop.post(f"/v1/carts/{guest}/merge", "customer"), 409)


def test_a_customers_cart_cannot_be_merged_as_a_guest_cart(
    shop: Shop, other: dict[str, str]
) -> None:
    theirs = open_cart(shop, other)
    assert_problem(shop.post(f"/v1/carts/{theirs}/merge", "customer"), 404)


# --- checkout ------------------------------------------------------------------------------


def test_checkout_places_the_order_and_closes_the_cart_in_one_save(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    add(shop, cart, "MUG", 2, shop.headers["customer"])
    placed = checkout(shop, cart, key="co-1")
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "placed" and order["total"] == {"amount": 2400, "currency": EUR}
    position = order["position"]
    body = view(shop, cart, position, shop.headers["customer"]).json()
    assert body["status"] == "checked_out" and body["order_id"] == order["order_id"]
    shown = shop.get(f"/v1/orders/{order['order_id']}", "customer", min_position=position).json()
    assert shown["lines"][0]["sku"] == "MUG" and shown["shipping_address"]["city"] == "Berlin"
    level = shop.get("/v1/inventory/MUG", "staff", min_position=position).json()
    assert level["reserved"] == 2
    # the order, the cart and the reservation are one append: three consecutive positions
    checked_out = shop.get(f"/v1/audit/streams/{cart}/events", "auditor").json()["items"][-1]
    placed = shop.get(f"/v1/audit/streams/{order['order_id']}/events", "auditor").json()["items"]
    assert checked_out["type"] == "Cart.CheckedOut" and placed[0]["type"] == "Order.Placed"
    assert {placed[0]["position"], checked_out["position"]} == {position - 2, position - 1}
    assert_problem(add(shop, cart, "MUG", 1, shop.headers["customer"]), 409)
    # the next POST /v1/carts starts the customer's cart afresh
    reopened = shop.client.post("/v1/carts", headers=shop.headers["customer"])
    assert reopened.status_code == 201 and reopened.json()["cart_id"] == cart
    body = view(shop, cart, reopened.json()["position"], shop.headers["customer"]).json()
    assert body["status"] == "open" and body["lines"] == []


def test_a_checkout_retried_with_its_key_returns_the_same_order(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    add(shop, cart, "MUG", 1, shop.headers["customer"])
    first = checkout(shop, cart, key="co-retry")
    again = checkout(shop, cart, key="co-retry")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    position = first.json()["position"]
    assert len(shop.get("/v1/orders", "customer", min_position=position).json()["items"]) == 1
    assert shop.get("/v1/inventory/MUG", "staff", min_position=position).json()["reserved"] == 1
    different = checkout(shop, cart, {"shipping_address": {**ADDRESS, "city": "Bonn"}}, "co-retry")
    assert_problem(different, 409, "Idempotency-Key")


def test_short_stock_at_checkout_is_409_naming_the_sku_and_changes_nothing(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    shop.product("RARE", 500, stock=1)
    cart = open_cart(shop, shop.headers["customer"])
    add(shop, cart, "MUG", 1, shop.headers["customer"])
    position = add(shop, cart, "RARE", 2, shop.headers["customer"]).json()["position"]
    body = assert_problem(checkout(shop, cart), 409, "sku")
    assert (body["sku"], body["requested"], body["available"]) == ("RARE", 2, 1)
    assert view(shop, cart, position, shop.headers["customer"]).json()["status"] == "open"
    assert shop.get("/v1/inventory/MUG", "staff", min_position=position).json()["reserved"] == 0


def test_a_changed_price_is_422_with_the_new_price_unless_accepted(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    add(shop, cart, "MUG", 2, shop.headers["customer"])
    shop.post("/v1/products/MUG/price", "staff", {"price": {"amount": 1300, "currency": EUR}})
    body = assert_problem(checkout(shop, cart), 422, "lines[0].unit_price")
    assert body["expected"] == {"amount": 1300, "currency": EUR} and body["sku"] == "MUG"
    accepted = checkout(shop, cart, {"shipping_address": ADDRESS, "accept_current_prices": True})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["total"] == {"amount": 2600, "currency": EUR}


def test_checkout_uses_the_address_applied_to_the_cart(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    add(shop, cart, "MUG", 1, shop.headers["customer"])
    applied = shop.client.put(
        f"/v1/carts/{cart}/address",
        json={"shipping_address": {**ADDRESS, "city": "Hamburg"}},
        headers=shop.headers["customer"],
    )
    assert applied.status_code == 200, applied.text
    placed = checkout(shop, cart, {})
    assert placed.status_code == 201, placed.text
    position = placed.json()["position"]
    shown = shop.get(f"/v1/orders/{placed.json()['order_id']}", "customer", min_position=position)
    assert shown.json()["shipping_address"]["city"] == "Hamburg"


def test_checkout_without_any_address_or_lines_is_422(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    cart = open_cart(shop, shop.headers["customer"])
    assert_problem(checkout(shop, cart), 422, "lines")
    add(shop, cart, "MUG", 1, shop.headers["customer"])
    assert_problem(checkout(shop, cart, {}), 422, "shipping_address")
    # an address the customer never saved (or someone else's) is not found
    assert_problem(checkout(shop, cart, {"address_id": str(uuid.uuid4())}), 404, "address_id")


def test_a_guest_cart_is_merged_before_checkout(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    guest = open_cart(shop)
    add(shop, guest, "MUG", 1)
    assert_problem(checkout(shop, guest), 409, "cart_id")
