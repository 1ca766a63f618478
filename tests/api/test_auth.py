"""Login, tokens and role guards."""

from __future__ import annotations

import pytest

from tests.api.conftest import Shop, assert_problem


def test_login_returns_a_bearer_token_carrying_the_role(shop: Shop) -> None:
    response = shop.client.post(
        "/v1/auth/login", json={"email": "Staff@Example.com", "password": "tillroll-demo"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "staff"
    assert body["expires_in"] > 0 and body["access_token"].count(".") == 2


@pytest.mark.parametrize("email", ["staff@example.com", "nobody@example.com"])
def test_login_is_refused_alike_for_a_wrong_password_or_unknown_email(
    shop: Shop, email: str
) -> None:
    response = shop.client.post("/v1/auth/login", json={"email": email, "password": "wrong-one"})
    body = assert_problem(response, 401)
    assert body["detail"] == "email or password is wrong"


def test_a_command_without_a_token_is_401(shop: Shop) -> None:
    response = shop.client.post("/v1/products", json={"sku": "X"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_garbage_token_is_401(shop: Shop) -> None:
    response = shop.client.get("/v1/inventory/X", headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(response, 401)


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("customer", "post", "/v1/products"),
        ("customer", "get", "/v1/inventory/MUG"),
        ("staff", "post", "/v1/orders"),
        ("auditor", "post", "/v1/products/MUG/price"),
        ("customer", "get", "/v1/ops/projections"),
    ],
)
def test_a_role_outside_the_route_is_403(shop: Shop, role: str, method: str, path: str) -> None:
    response = getattr(shop.client, method)(
        path, headers=shop.headers[role], **({"json": {}} if method == "post" else {})
    )
    assert_problem(response, 403)
