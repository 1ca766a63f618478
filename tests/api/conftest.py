"""An app over a real runtime, driven through Litestar's test client, with helpers that
speak HTTP the way a shop frontend does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import DEMO_PASSWORD, open_accounts
from tillroll.bootstrap import Runtime, http_app

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


class Shop:
    """The test client plus logged-in headers per role."""

    def __init__(self, client: TestClient[Any]) -> None:
        self.client = client
        self.headers = {role: self.login(role) for role in ("customer", "staff", "auditor", "ops")}

    def login(self, role: str, email: str | None = None) -> dict[str, str]:
        response = self.client.post(
            "/v1/auth/login",
            json={"email": email or f"{role}@example.com", "password": DEMO_PASSWORD},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def post(self, path: str, role: str, body: Any = None, **headers: str) -> Any:
        return self.client.post(path, json=body, headers={**self.headers[role], **headers})

    def get(self, path: str, role: str | None = None, **params: Any) -> Any:
        headers = self.headers[role] if role else {}
        return self.client.get(path, params=params, headers=headers)

    def product(self, sku: str, cents: int = 1000, stock: int = 0, **extra: Any) -> int:
        body = {"sku": sku, "name": sku.title(), "price": {"amount": cents, "currency": "EUR"}}
        response = self.post("/v1/products", "staff", {**body, **extra})
        assert response.status_code == 201, response.text
        position = response.json()["position"]
        if stock:
            response = self.post(f"/v1/inventory/{sku}/receipts", "staff", {"quantity": stock})
            assert response.status_code == 201, response.text
            position = response.json()["position"]
        return position

    def order(
        self, lines: list[tuple[str, int, int]], role: str = "customer", **headers: str
    ) -> Any:
        body = {
            "lines": [
                {"sku": sku, "quantity": qty, "unit_price": {"amount": cents, "currency": "EUR"}}
                for sku, qty, cents in lines
            ],
            "shipping_address": ADDRESS,
        }
        return self.post("/v1/orders", role, body, **headers)


@pytest.fixture
def shop(runtime: Runtime) -> Iterator[Shop]:
    open_accounts(runtime)
    with TestClient(http_app(runtime, run_projections=True)) as client:
        yield Shop(client)


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    if field is not None:
        assert body.get("field") == field, body
    return body
