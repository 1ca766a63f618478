"""Hostile input from anonymous and customer callers (issue 16's first list): each answer is a
4xx problem+json naming what was wrong, never a 500, and nothing is written."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from tests.api.conftest import ADDRESS, Shop, assert_problem


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


GUARDED = [
    "/v1/orders",
    "/v1/inventory/MUG/ledger",
    "/v1/ops/projections",
    "/v1/audit/verify",
    "/v1/products",
]


def test_options_is_never_a_server_error(shop: Shop) -> None:
    for path in GUARDED:
        response = shop.client.options(path)
        assert response.status_code < 500, (path, response.text)
        assert "connection.user" not in response.text


@pytest.mark.parametrize("param", ["q", "category", "tag"])
def test_nul_in_search_parameters_is_a_422_naming_it(shop: Shop, param: str) -> None:
    response = shop.client.get("/v1/products", params={param: "mug\x00"})
    assert_problem(response, 422, param)


TAMPERED = [
    _cursor([None]),
    _cursor(["x"]),
    _cursor([[1]]),
    _cursor([{"a": 1}]),
    _cursor([True]),
    _cursor([1.5]),
    _cursor([10**30]),
    _cursor([-1]),
    "!!!",
    _cursor(["not-a-date", "also-not-a-uuid"]),
    _cursor([1, 2]),
]


def test_tampered_cursors_are_a_400(shop: Shop) -> None:
    shop.product("MUG", stock=1)
    for path, role in [
        ("/v1/products", None),
        ("/v1/orders", "customer"),
        ("/v1/orders", "staff"),
        ("/v1/inventory/MUG/ledger", "staff"),
        ("/v1/products/MUG/price-history", None),
    ]:
        for cursor in TAMPERED:
            assert_problem(shop.get(path, role, cursor=cursor), 400, "cursor")


def test_a_deeply_nested_body_is_a_400(shop: Shop) -> None:
    body = b'{"lines": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = shop.client.post(
        "/v1/orders",
        content=body,
        headers={**shop.headers["customer"], "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("shipping_address.country", "DE\n"), ("lines[0].sku", "MUG\n")],
)
def test_patterns_refuse_a_trailing_newline(shop: Shop, field: str, value: str) -> None:
    shop.product("MUG", stock=5)
    line = {"sku": "MUG", "quantity": 1, "unit_price": {"amount": 1000, "currency": "EUR"}}
    body: dict[str, Any] = {"lines": [line], "shipping_address": dict(ADDRESS)}
    if field.startswith("shipping"):
        body["shipping_address"]["country"] = value
    else:
        line["sku"] = value
    response = shop.post("/v1/orders", "customer", body)
    assert 400 <= response.status_code < 500 and response.status_code != 404, response.text
    assert field.split(".")[-1].split("[")[0] in response.text


def test_a_missing_body_names_the_body(shop: Shop) -> None:
    response = shop.client.post("/v1/orders", headers=shop.headers["customer"])
    body = assert_problem(response, 400)
    assert body.get("field") == "body", body


def test_control_characters_in_free_text_are_a_422_naming_the_field(shop: Shop) -> None:
    body = {"sku": "BAD", "name": "Bad\x00Name", "price": {"amount": 1, "currency": "EUR"}}
    response = shop.post("/v1/products", "staff", body)
    assert 400 <= response.status_code < 500, response.text
    assert "name" in response.text


def test_security_headers_on_every_answer(shop: Shop) -> None:
    for response in (
        shop.client.get("/health"),
        shop.get("/v1/orders", "customer"),
        shop.client.get("/v1/orders"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    authed = shop.get("/v1/orders", "customer")
    assert authed.headers["cache-control"] == "no-store"
