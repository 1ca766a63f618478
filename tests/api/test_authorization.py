"""The authorization matrix: every route of the app (read from `app.routes`, so a new route
is covered the day it is added) against no token, each role, an expired token, a tampered
signature and `alg: none`; and a revoked refresh token on /v1/auth/refresh."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from uuid import uuid4

import jwt
import pytest

from tests.api.conftest import Shop, assert_problem

ROLES = ("customer", "staff", "auditor", "ops")
# Served without a token by design: the JWT config's excluded paths.
UNGUARDED_PREFIXES = ("/schema", "/docs", "/health", "/ready", "/metrics")
SAMPLE = {"uuid": str(uuid4()), "str": "NO-SUCH-THING", "int": "1", "path": "openapi.yaml"}


C, S, A, OP = "customer", "staff", "auditor", "ops"
PUBLIC = ()
# Who may call each route, as the API specifies it (shared/API.md). A route missing here is
# still checked against its own guard (401 without a token, 403 for other roles); a route
# listed here must also have exactly these roles.
SPEC: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/register"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("POST", "/v1/auth/logout"): PUBLIC,
    ("GET", "/v1/products"): PUBLIC,
    ("GET", "/v1/products/{sku:str}"): PUBLIC,
    ("GET", "/v1/products/{sku:str}/price-history"): PUBLIC,
    ("GET", "/v1/categories"): PUBLIC,
    ("POST", "/v1/products"): (S,),
    ("PATCH", "/v1/products/{sku:str}"): (S,),
    ("POST", "/v1/products/{sku:str}/price"): (S,),
    ("POST", "/v1/products/{sku:str}/tier-prices"): (S,),
    ("POST", "/v1/products/{sku:str}/archive"): (S,),
    ("POST", "/v1/categories"): (S,),
    ("PATCH", "/v1/categories/{slug:str}"): (S,),
    ("GET", "/v1/inventory/{sku:str}"): (S,),
    ("GET", "/v1/inventory/{sku:str}/ledger"): (S,),
    ("POST", "/v1/inventory/{sku:str}/receipts"): (S,),
    ("POST", "/v1/inventory/{sku:str}/adjustments"): (S,),
    ("POST", "/v1/orders"): (C,),
    ("GET", "/v1/orders"): (C, S),
    ("GET", "/v1/orders/{order_id:uuid}"): (C, S),
    ("POST", "/v1/orders/{order_id:uuid}/cancel"): (C, S),
    ("GET", "/v1/ops/projections"): (OP,),
    ("POST", "/v1/ops/projections/{name:str}/rebuild"): (OP,),
    ("POST", "/v1/ops/projections/{name:str}/retry"): (OP,),
    ("GET", "/v1/audit/events"): (A, OP),
    ("GET", "/v1/audit/anchor"): (A,),
    ("GET", "/v1/audit/verify"): (A,),
    ("GET", "/v1/audit/streams/{stream_id:uuid}/events"): (A,),
    ("GET", "/v1/audit/streams/{stream_id:uuid}/state"): (A,),
    ("GET", "/v1/me"): (C,),
    ("PATCH", "/v1/me"): (C,),
    ("POST", "/v1/me/password"): (C, S, A, OP),
    ("GET", "/v1/me/addresses"): (C,),
    ("POST", "/v1/me/addresses"): (C,),
    ("PUT", "/v1/me/addresses/{address_id:uuid}"): (C,),
    ("DELETE", "/v1/me/addresses/{address_id:uuid}"): (C,),
    ("POST", "/v1/me/addresses/{address_id:uuid}/default"): (C,),
    ("GET", "/v1/me/orders"): (C,),
    ("PUT", "/v1/customers/{customer_id:uuid}/tier"): (S,),
    # carts: a guest's cart id is its key, so the cart routes take no role guard; whose cart
    # it is is checked by the commands (someone else's is a 404: tests/api/test_carts.py)
    ("POST", "/v1/carts"): PUBLIC,
    ("GET", "/v1/carts/{cart_id:uuid}"): PUBLIC,
    ("POST", "/v1/carts/{cart_id:uuid}/items"): PUBLIC,
    ("PATCH", "/v1/carts/{cart_id:uuid}/items/{sku:str}"): PUBLIC,
    ("DELETE", "/v1/carts/{cart_id:uuid}/items/{sku:str}"): PUBLIC,
    ("DELETE", "/v1/carts/{cart_id:uuid}/items"): PUBLIC,
    ("PUT", "/v1/carts/{cart_id:uuid}/address"): PUBLIC,
    ("POST", "/v1/carts/{cart_id:uuid}/merge"): (C,),
    ("POST", "/v1/carts/{cart_id:uuid}/checkout"): (C,),
    # the order's life and its money
    ("POST", "/v1/orders/{order_id:uuid}/payment"): (C,),
    ("POST", "/v1/webhooks/stripe"): PUBLIC,  # Stripe: its signature, not a token
    ("POST", "/v1/dev/payments/{intent_id:str}/{outcome:str}"): PUBLIC,  # test mode only
    ("POST", "/v1/orders/{order_id:uuid}/ship"): (S,),
    ("POST", "/v1/orders/{order_id:uuid}/deliver"): (S,),
    ("POST", "/v1/orders/{order_id:uuid}/refund"): (S,),
    ("POST", "/v1/orders/{order_id:uuid}/returns"): (C,),
    ("POST", "/v1/returns/{return_id:str}/accept"): (S,),
    ("POST", "/v1/returns/{return_id:str}/receive"): (S,),
    ("GET", "/v1/ops/jobs"): (OP,),
    # the console (api/console): HTML pages on the same guards; its forms also need a CSRF
    # token when the credential is the session cookie (tests/api/test_console.py)
    ("GET", "/console"): (A, OP),
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,
    ("POST", "/console/logout"): PUBLIC,
    ("GET", "/console/static/{file_path:path}"): PUBLIC,
    ("GET", "/console/ops"): (OP,),
    ("GET", "/console/ops/live"): (OP,),
    ("POST", "/console/ops/projections/{name:str}/rebuild"): (OP,),
    ("POST", "/console/ops/projections/{name:str}/retry"): (OP,),
    ("POST", "/console/ops/projections/{name:str}/verify"): (OP,),
    ("POST", "/console/ops/jobs/{job_id:str}/retry"): (OP,),
    ("GET", "/console/audit"): (A,),
    ("GET", "/console/audit/streams/{stream_id:uuid}/state"): (A,),
    ("GET", "/console/audit/verify"): (A,),
    ("GET", "/console/audit/anchor"): (A,),
    ("GET", "/console/audit/export"): (A,),
    # after the sale: invoices and VAT, reviews, price watches
    ("GET", "/v1/orders/{order_id:uuid}/invoice"): (C, S, A),
    ("GET", "/v1/tax/rates"): (S, A),
    ("PUT", "/v1/tax/rates/{category:str}"): (S,),
    ("PUT", "/v1/tax/default-rate"): (S,),
    ("GET", "/v1/products/{sku:str}/reviews"): PUBLIC,
    ("POST", "/v1/products/{sku:str}/reviews"): (C,),
    ("PUT", "/v1/products/{sku:str}/reviews"): (C,),
    ("POST", "/v1/reviews/{review_id:uuid}/helpful"): (C,),
    ("POST", "/v1/reviews/{review_id:uuid}/hide"): (S,),
    ("GET", "/v1/me/watches"): (C,),
    ("POST", "/v1/me/watches"): (C,),
    ("DELETE", "/v1/me/watches/{sku:str}"): (C,),
    # insights, reports and live updates
    ("GET", "/v1/insights/trending"): PUBLIC,
    ("GET", "/v1/insights/bestsellers"): PUBLIC,
    ("GET", "/v1/reports/sales"): (S,),
    ("GET", "/v1/reports/sales.svg"): (S,),
    ("GET", "/v1/me/orders/events"): (C,),
    ("GET", "/v1/products/{sku:str}/stock/events"): PUBLIC,
}


def test_each_specified_route_is_guarded_by_exactly_its_roles(shop: Shop) -> None:
    found = {}
    for route in shop.client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                names = [g.func.__name__ for g in handler.resolve_guards()]
                guard = [n for n in names if n.startswith("roles_")]
                roles = tuple(guard[0].removeprefix("roles_").split("_")) if guard else PUBLIC
                public = bool(handler.opt.get("public"))
                found[(method, route.path)] = (
                    PUBLIC if public and not guard else tuple(sorted(roles, key=ROLES.index))
                )
    assert {key: found.get(key) for key in SPEC} == {
        key: tuple(sorted(roles, key=ROLES.index)) for key, roles in SPEC.items()
    }


def routes(shop: Shop) -> list[tuple[str, str, bool, tuple[str, ...] | None]]:
    """(method, path with sample parameters, public, roles of its guard or None)."""
    found = []
    for route in shop.client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                names = [g.func.__name__ for g in handler.resolve_guards()]
                guard = [n for n in names if n.startswith("roles_")]
                public = bool(handler.opt.get("public")) or route.path.startswith(
                    UNGUARDED_PREFIXES
                )
                path = re.sub(r"\{(\w+):(\w+)\}", lambda m: SAMPLE.get(m.group(2), "x"), route.path)
                allowed = tuple(guard[0].removeprefix("roles_").split("_")) if guard else None
                found.append((method, path, public, allowed))
    return found


def call(shop: Shop, method: str, path: str, headers: dict[str, str]) -> Any:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return shop.client.request(method, path, headers=headers, **body)


def claims(shop: Shop, role: str) -> dict[str, Any]:
    token = shop.headers[role]["Authorization"].removeprefix("Bearer ")
    return jwt.decode(token, options={"verify_signature": False})


def bad_tokens(shop: Shop) -> dict[str, str]:
    """Tokens that must never pass, each naming staff (the widest-reaching role here)."""
    secret = shop.client.app.state.jwt_auth.token_secret
    valid = shop.headers["staff"]["Authorization"].removeprefix("Bearer ")
    expired = {**claims(shop, "staff"), "exp": int(time.time()) - 60, "iat": int(time.time()) - 120}
    head, payload, signature = valid.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged = {**claims(shop, "staff"), "role": "ops"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return {
        "expired": jwt.encode(expired, secret, algorithm="HS256"),
        "tampered signature": f"{head}.{payload}.{flipped}",
        "tampered payload": f"{head}.{forged_payload}.{signature}",
        "alg none": f"{none_head}.{payload}.",
        "other secret": jwt.encode(claims(shop, "staff"), "another-secret-" + "y" * 32),
    }


def test_every_route_is_public_or_guarded_by_role(shop: Shop) -> None:
    unguarded = [(m, p) for m, p, public, allowed in routes(shop) if not public and not allowed]
    assert unguarded == []


def test_without_a_token_every_guarded_route_is_401_and_every_public_one_answers(
    shop: Shop,
) -> None:
    wrong = []
    for method, path, public, _ in routes(shop):
        status = call(shop, method, path, {}).status_code
        if (status == 401) == public:
            wrong.append((method, path, status))
    assert wrong == []


def test_each_role_gets_403_outside_its_routes_and_passes_the_guard_inside_them(
    shop: Shop,
) -> None:
    wrong = []
    for method, path, public, allowed in routes(shop):
        if public or allowed is None:
            continue
        for role in ROLES:
            status = call(shop, method, path, shop.headers[role]).status_code
            expected_403 = role not in allowed
            if (status == 403) != expected_403 or status == 401:
                wrong.append((role, method, path, status))
    assert wrong == []


def test_forged_expired_and_unsigned_tokens_are_401_on_every_guarded_route(shop: Shop) -> None:
    wrong = []
    for name, token in bad_tokens(shop).items():
        for method, path, public, _ in routes(shop):
            if public:
                continue
            response = call(shop, method, path, {"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                wrong.append((name, method, path, response.status_code))
    assert wrong == []


def test_a_revoked_refresh_token_is_401_on_refresh(shop: Shop) -> None:
    body = {"email": "customer@example.com", "password": "tillroll-demo"}
    token = shop.client.post("/v1/auth/login", json=body).json()["refresh_token"]
    assert shop.client.post("/v1/auth/logout", json={"refresh_token": token}).status_code == 204
    assert_problem(shop.client.post("/v1/auth/refresh", json={"refresh_token": token}), 401)


@pytest.mark.parametrize("role", ["staff", "ops"])
def test_me_routes_of_other_roles_are_403_not_someone_elses_profile(shop: Shop, role: str) -> None:
    assert_problem(shop.get("/v1/me", role), 403)
