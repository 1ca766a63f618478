"""Health, readiness, OpenAPI, metrics and the ops routes."""

from __future__ import annotations

import dataclasses
import time

from litestar.testing import TestClient
from tillroll.infra.settings import Settings

from tests.api.conftest import Shop, assert_problem
from tests.conftest import open_accounts
from tillroll.bootstrap import Runtime, http_app


def test_health_answers_ok(shop: Shop) -> None:
    assert shop.get("/health").json() == {"status": "ok"}


def test_ready_reports_dependencies_and_lag_per_read_model(shop: Shop) -> None:
    response = shop.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["postgres"]["ok"] and body["redis"]["ok"]
    assert set(body["lag"]) == {
        "product_search",
        "customer_orders",
        "inventory_ledger",
        "price_history",
        "product_cards",
        "stock_levels",
        "order_status",
        "customer_profiles",
        "carts",
        "product_reviews",  # added with the reviews read model (branch invoices)
        "price_watches",  # added with the watches read model (branch invoices)
        "bestsellers",
        "sales_report",
        "live_updates",
    }


def test_the_openapi_document_lists_every_route(shop: Shop) -> None:
    paths = set(shop.get("/schema/openapi.json").json()["paths"])
    assert {
        "/v1/auth/login",
        "/v1/products",
        "/v1/products/{sku}",
        "/v1/products/{sku}/price",
        "/v1/products/{sku}/price-history",
        "/v1/inventory/{sku}",
        "/v1/inventory/{sku}/receipts",
        "/v1/inventory/{sku}/adjustments",
        "/v1/inventory/{sku}/ledger",
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/orders/{order_id}/cancel",
        "/v1/ops/projections",
        "/v1/ops/projections/{name}/rebuild",
        "/health",
        "/ready",
    } <= paths


def test_docs_redirects_to_the_openapi_ui(shop: Shop) -> None:
    response = shop.client.get("/docs", follow_redirects=False)
    assert response.status_code in (301, 302, 307)
    assert response.headers["location"] == "/schema/swagger"
    assert shop.client.get("/schema/swagger").status_code == 200


def test_ops_status_and_a_rebuild_through_the_api(shop: Shop) -> None:
    position = shop.product("MUG", 1200, stock=3)
    started = shop.post("/v1/ops/projections/product_cards/rebuild", "ops")
    assert started.status_code == 202 and started.json()["state"] == "building"
    build = started.json()["build"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = {r["name"]: r for r in shop.get("/v1/ops/projections", "ops").json()}
        if (
            rows["product_cards"]["build"] == build
            and rows["product_cards"]["position"] >= position
        ):
            break
        time.sleep(0.05)
    assert rows["product_cards"]["build"] == build and rows["product_cards"]["state"] == "running"
    assert shop.get("/v1/products/MUG").json()["available"] == 3
    assert_problem(shop.post("/v1/ops/projections/nope/rebuild", "ops"), 404)


def test_metrics_expose_read_model_lag(shop: Shop) -> None:
    shop.get("/health")
    text = shop.get("/metrics").text
    assert 'tillroll_projection_lag_events{name="order_status"}' in text
    assert "litestar_requests_total" in text


def test_ready_says_not_ready_once_a_read_model_lags_past_the_threshold_in_seconds(
    settings: Settings,
) -> None:
    runtime = Runtime.open(dataclasses.replace(settings, ready_max_lag_seconds=0.3))
    try:
        open_accounts(runtime)
        # No follower: every event recorded from here on is pending for the read models.
        with TestClient(http_app(runtime, run_projections=False)) as client:
            shop = Shop(client)
            runtime.runner.catch_up()
            shop.product("LAGGING", 1000)
            fresh = shop.get("/ready")
            assert fresh.status_code == 200, fresh.text  # behind in events, not yet in time
            assert fresh.json()["lag"]["product_cards"] > 0
            deadline = time.monotonic() + 10
            while (late := shop.get("/ready")).status_code == 200:
                assert time.monotonic() < deadline, late.text
                time.sleep(0.05)
            body = late.json()
            assert late.status_code == 503 and body["status"] == "not ready"
            assert body["max_lag_seconds"] == 0.3
            assert body["lag_seconds"]["product_cards"] > 0.3
            runtime.runner.catch_up()
            caught_up = shop.get("/ready")
            assert caught_up.status_code == 200
            assert set(caught_up.json()["lag_seconds"].values()) == {0.0}
    finally:
        runtime.close()
