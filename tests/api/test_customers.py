"""Registration, sessions (refresh rotation, reuse detection, logout, password change), the
customer's profile and addresses, tier pricing and ordering to a saved address."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from tillroll.aggregates.identity.account import Account

from tests.api.conftest import ADDRESS, Shop, assert_problem
from tillroll.bootstrap import Runtime

PASSWORD = "correct horse battery"


def register(shop: Shop, email: str = "ada@example.com", password: str = PASSWORD) -> Any:
    return shop.client.post(
        "/v1/auth/register", json={"email": email, "password": password, "name": "Ada"}
    )


def login(shop: Shop, email: str = "ada@example.com", password: str = PASSWORD) -> Any:
    response = shop.client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def refresh(shop: Shop, token: str) -> Any:
    return shop.client.post("/v1/auth/refresh", json={"refresh_token": token})


# -- registration -------------------------------------------------------------------------
def test_registering_answers_201_with_the_customer_id_and_the_customer_can_log_in(
    shop: Shop,
) -> None:
    response = register(shop, "  Ada@Example.COM ")
    assert response.status_code == 201, response.text
    tokens = login(shop)
    assert tokens["subject"] == response.json()["customer_id"] and tokens["role"] == "customer"
    assert tokens["refresh_token"] and tokens["token_type"] == "bearer"


def test_a_second_registration_of_the_same_email_is_409_naming_email(shop: Shop) -> None:
    register(shop)
    assert_problem(register(shop, "ADA@example.com"), 409, "email")


@pytest.mark.parametrize("password", ["short1", "password123", "ada@example.com", "Qwerty123!"])
def test_a_weak_password_is_422_naming_password(shop: Shop, password: str) -> None:
    assert_problem(register(shop, password=password), 422, "password")


def test_no_password_hash_enters_the_event_log(shop: Shop, runtime: Runtime) -> None:
    register(shop)
    with runtime.store.connection() as conn:
        rows = conn.execute(
            f"SELECT state FROM {runtime.settings.event_schema}.tillroll_events"
        ).fetchall()
    states = b"".join(bytes(next(iter(row.values()))) for row in rows)
    assert b"ada@example.com" in states  # the registration's events are here
    assert b"password" not in states and b"scrypt" not in states


def test_an_account_whose_hash_is_in_its_old_event_still_logs_in_and_the_hash_moves(
    shop: Shop, runtime: Runtime
) -> None:
    from tillroll.commands.identity import hash_password

    old = Account.open("old@example.com", "Old", "customer", hash_password(PASSWORD))
    runtime.store.save(old, meta={})
    assert runtime.credentials.password_hash(old.id) is None
    assert login(shop, "old@example.com")["subject"] == str(old.id)
    assert runtime.credentials.password_hash(old.id) is not None
    assert login(shop, "old@example.com")["subject"] == str(old.id)  # from the table now


# -- sessions ---------------------------------------------------------------------------
def test_refresh_rotates_and_the_old_refresh_token_stops_working(shop: Shop) -> None:
    register(shop)
    first = login(shop)
    response = refresh(shop, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"]
    assert shop.client.get("/v1/me", headers=bearer(second)).status_code in (200, 404)
    assert_problem(refresh(shop, first["refresh_token"]), 401)


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(shop: Shop) -> None:
    register(shop)
    first = login(shop)
    second = refresh(shop, first["refresh_token"]).json()
    assert_problem(refresh(shop, first["refresh_token"]), 401)  # reuse: the theft signal
    assert_problem(refresh(shop, second["refresh_token"]), 401)  # the thief's is dead too


def test_other_sessions_survive_a_reuse_in_one_family(shop: Shop) -> None:
    register(shop)
    phone, laptop = login(shop), login(shop)
    refresh(shop, phone["refresh_token"])
    refresh(shop, phone["refresh_token"])
    assert refresh(shop, laptop["refresh_token"]).status_code == 200


def test_logout_revokes_that_session_only(shop: Shop) -> None:
    register(shop)
    phone, laptop = login(shop), login(shop)
    response = shop.client.post("/v1/auth/logout", json={"refresh_token": phone["refresh_token"]})
    assert response.status_code == 204
    assert_problem(refresh(shop, phone["refresh_token"]), 401)
    assert refresh(shop, laptop["refresh_token"]).status_code == 200


def test_an_unknown_refresh_token_is_401(shop: Shop) -> None:
    assert_problem(refresh(shop, "not-a-token"), 401)


def test_changing_the_password_revokes_every_session(shop: Shop) -> None:
    register(shop)
    phone, laptop = login(shop), login(shop)
    response = shop.client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another long phrase"},
        headers=bearer(phone),
    )
    assert response.status_code == 204, response.text
    assert_problem(refresh(shop, phone["refresh_token"]), 401)
    assert_problem(refresh(shop, laptop["refresh_token"]), 401)
    assert login(shop, password="another long phrase")["role"] == "customer"
    wrong = shop.client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert_problem(wrong, 401)


def test_a_password_change_needs_the_current_password(shop: Shop) -> None:
    register(shop)
    response = shop.client.post(
        "/v1/me/password",
        json={"current_password": "wrong one here", "new_password": "another long phrase"},
        headers=bearer(login(shop)),
    )
    assert_problem(response, 401)


# -- profile and addresses --------------------------------------------------------------
class Me:
    def __init__(self, shop: Shop, email: str = "ada@example.com") -> None:
        register(shop, email)
        self.shop = shop
        self.tokens = login(shop, email)
        self.headers = bearer(self.tokens)
        self.id = self.tokens["subject"]

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.shop.client.post(path, json=body, params=params, headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.shop.client.get(path, params=params, headers=self.headers)

    def add(self, address: dict[str, str] = ADDRESS) -> tuple[str, int]:
        response = self.post("/v1/me/addresses", address)
        assert response.status_code == 201, response.text
        return response.json()["address_id"], response.json()["position"]


def test_me_shows_the_profile_after_registration(shop: Shop) -> None:
    me = Me(shop)
    position = int(me.post("/v1/me/addresses", ADDRESS).headers["X-Log-Position"])
    body = me.get("/v1/me", min_position=position).json()
    assert body["customer_id"] == me.id and body["email"] == "ada@example.com"
    assert (body["name"], body["tier"]) == ("Ada", "base")


def test_patch_me_renames(shop: Shop) -> None:
    me = Me(shop)
    response = shop.client.patch("/v1/me", json={"name": "Ada L."}, headers=me.headers)
    assert response.status_code == 200, response.text
    position = response.json()["position"]
    assert me.get("/v1/me", min_position=position).json()["name"] == "Ada L."


def test_addresses_can_be_added_changed_made_default_and_removed(shop: Shop) -> None:
    me = Me(shop)
    home, _ = me.add()
    work, _ = me.add({**ADDRESS, "line1": "2 Work Rd"})
    me.post(f"/v1/me/addresses/{home}/default", kind="shipping")
    response = me.post(f"/v1/me/addresses/{work}/default", kind="billing")
    assert response.status_code == 200, response.text
    changed = shop.client.put(
        f"/v1/me/addresses/{work}", json={**ADDRESS, "city": "Hamburg"}, headers=me.headers
    )
    assert changed.status_code == 200, changed.text
    removed = shop.client.delete(f"/v1/me/addresses/{home}", headers=me.headers)
    assert removed.status_code == 200, removed.text
    body = me.get("/v1/me/addresses", min_position=removed.json()["position"]).json()
    assert [a["address_id"] for a in body["addresses"]] == [work]
    assert body["addresses"][0]["city"] == "Hamburg"
    assert body["default_shipping_address_id"] is None  # removed with its address
    assert body["default_billing_address_id"] == work


def test_a_default_kind_other_than_shipping_or_billing_is_400(shop: Shop) -> None:
    me = Me(shop)
    home, _ = me.add()
    assert_problem(me.post(f"/v1/me/addresses/{home}/default", kind="gift"), 400)


def test_another_customers_address_is_404_on_every_address_route(shop: Shop) -> None:
    ada, bob = Me(shop), Me(shop, "bob@example.com")
    home, _ = ada.add()
    client = shop.client
    assert_problem(client.put(f"/v1/me/addresses/{home}", json=ADDRESS, headers=bob.headers), 404)
    assert_problem(client.delete(f"/v1/me/addresses/{home}", headers=bob.headers), 404)
    assert_problem(bob.post(f"/v1/me/addresses/{home}/default", kind="shipping"), 404)


# -- orders -----------------------------------------------------------------------------
def order_body(cents: int, **address: Any) -> dict[str, Any]:
    line = {"sku": "MUG", "quantity": 1, "unit_price": {"amount": cents, "currency": "EUR"}}
    return {"lines": [line], **address}


def test_an_order_can_ship_to_a_saved_address(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    me = Me(shop)
    home, _ = me.add()
    response = me.post("/v1/orders", order_body(1200, address_id=home))
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]
    view = me.get(f"/v1/orders/{order_id}", min_position=response.json()["position"]).json()
    assert view["shipping_address"]["line1"] == ADDRESS["line1"]
    mine = me.get("/v1/me/orders", min_position=response.json()["position"]).json()
    assert [o["order_id"] for o in mine["items"]] == [order_id]


def test_an_order_to_another_customers_address_is_404(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    ada, bob = Me(shop), Me(shop, "bob@example.com")
    home, _ = ada.add()
    assert_problem(bob.post("/v1/orders", order_body(1200, address_id=home)), 404)
    assert_problem(bob.post("/v1/orders", order_body(1200, address_id=str(uuid4()))), 404)


def test_an_order_with_both_or_neither_address_is_refused(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    me = Me(shop)
    home, _ = me.add()
    both = order_body(1200, address_id=home, shipping_address=ADDRESS)
    assert_problem(me.post("/v1/orders", both), 400, "address_id")
    assert_problem(me.post("/v1/orders", order_body(1200)), 400, "shipping_address")


def test_an_order_is_priced_at_the_tier_staff_set(shop: Shop) -> None:
    shop.product("MUG", 1200, stock=5)
    assert shop.post(
        "/v1/products/MUG/tier-prices",
        "staff",
        {"tier": "gold", "price": {"amount": 999, "currency": "EUR"}},
    ).status_code in (200, 201)
    me = Me(shop)
    assert_problem(me.post("/v1/orders", order_body(999, shipping_address=ADDRESS)), 422)
    response = shop.client.put(
        f"/v1/customers/{me.id}/tier", json={"tier": "gold"}, headers=shop.headers["staff"]
    )
    assert response.status_code == 200, response.text
    assert_problem(me.post("/v1/orders", order_body(1200, shipping_address=ADDRESS)), 422)
    placed = me.post("/v1/orders", order_body(999, shipping_address=ADDRESS))
    assert placed.status_code == 201, placed.text
    assert me.get("/v1/me", min_position=placed.json()["position"]).json()["tier"] == "gold"


def test_a_customer_cannot_set_a_tier_and_staff_cannot_set_an_unknown_one(shop: Shop) -> None:
    me = Me(shop)
    own = shop.client.put(f"/v1/customers/{me.id}/tier", json={"tier": "gold"}, headers=me.headers)
    assert_problem(own, 403)
    bad = shop.client.put(
        f"/v1/customers/{me.id}/tier", json={"tier": "vip"}, headers=shop.headers["staff"]
    )
    assert_problem(bad, 400)
    missing = shop.client.put(
        f"/v1/customers/{UUID(int=7)}/tier", json={"tier": "gold"}, headers=shop.headers["staff"]
    )
    assert_problem(missing, 404)


def test_adding_an_address_twice_with_one_idempotency_key_saves_it_once(shop: Shop) -> None:
    me = Me(shop)
    headers = {**me.headers, "Idempotency-Key": "address-1"}
    first = shop.client.post("/v1/me/addresses", json=ADDRESS, headers=headers)
    again = shop.client.post("/v1/me/addresses", json=ADDRESS, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json()["address_id"] == again.json()["address_id"]
    listed = me.get("/v1/me/addresses", min_position=again.json()["position"]).json()
    assert len(listed["addresses"]) == 1
