"""The insight and report routes over HTTP: the product listing by units sold, trending,
the sales report as JSON and CSV, its chart as SVG, and bad parameters named in a 422.
(What the figures are worth is tested against the event log in
tests/integration/test_insights.py.)"""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from tillroll.infra.embedded import EmbeddedServers

from tests.api.conftest import Shop, assert_problem
from tests.conftest import fresh_settings, open_accounts
from tillroll.bootstrap import Runtime, http_app

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def sales(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One shop for the module (the routes only read): three products in two categories and
    three paid orders (paid on the aggregate: the payment flow has its own tests)."""
    runtime = Runtime.open(fresh_settings(servers, tmp_path_factory.mktemp("insights")))
    open_accounts(runtime)
    try:
        with TestClient(http_app(runtime, run_projections=True)) as client:
            yield _sales(Shop(client), runtime)
    finally:
        runtime.close()


def _sales(shop: Shop, runtime: Runtime) -> Shop:
    for sku, category in (("MUG-1", "mugs"), ("MUG-2", "mugs"), ("TEA-1", "tea")):
        shop.product(sku, 1000, stock=50, category=category)
    position = 0
    for lines in ([("MUG-1", 1, 1000)], [("MUG-2", 4, 1000)], [("MUG-2", 1, 1000), ("TEA-1", 2, 1000)]):  # fmt: skip
        response = shop.order(lines)
        assert response.status_code == 201, response.text
        order = runtime.store.get(uuid.UUID(response.json()["order_id"]))
        order.mark_paid(f"pi_{order.id.hex}", order.total)
        position = runtime.store.save(order, meta={})
    shop.position = position  # type: ignore[attr-defined]
    return shop


def test_products_by_units_sold_most_first_within_a_category(sales: Shop) -> None:
    at = sales.position  # type: ignore[attr-defined]
    everything = sales.get("/v1/products", sort="bestselling", min_position=at).json()
    assert [p["sku"] for p in everything["items"]] == ["MUG-2", "TEA-1", "MUG-1"]
    mugs = sales.get("/v1/products", sort="bestselling", category="mugs", limit=1).json()
    assert [p["sku"] for p in mugs["items"]] == ["MUG-2"] and mugs["next_cursor"]
    rest = sales.get(
        "/v1/products", sort="bestselling", category="mugs", cursor=mugs["next_cursor"]
    ).json()
    assert [p["sku"] for p in rest["items"]] == ["MUG-1"] and rest["next_cursor"] is None
    assert_problem(sales.get("/v1/products", sort="bestselling", tag="x"), 422, "tag")


def test_trending_and_the_day_leaderboard(sales: Shop) -> None:
    at = sales.position  # type: ignore[attr-defined]
    trending = sales.get("/v1/insights/trending", min_position=at).json()["items"]
    assert [(t["sku"], t["recent_units"], t["growth"]) for t in trending] == [
        ("MUG-2", 5, 5.0),
        ("TEA-1", 2, 2.0),
        ("MUG-1", 1, 1.0),
    ]
    today = datetime.now(UTC).date().isoformat()
    board = sales.get("/v1/insights/bestsellers", day=today).json()["items"]
    assert board[0] == {"sku": "MUG-2", "units": 5}


def _report(shop: Shop, **params: str) -> dict:
    response = shop.get("/v1/reports/sales", "staff", **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_sales_report_as_json_and_csv(sales: Shop) -> None:
    today = datetime.now(UTC).date()
    at = str(sales.position)  # type: ignore[attr-defined]
    body = _report(sales, to=today.isoformat(), min_position=at)
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    [row] = body["rows"]
    assert row["period"] == today.isoformat() and row["currency"] == "EUR"
    assert (row["orders"], row["units"], row["revenue"]) == (3, 8, 8000)
    assert row["average_order_value"] == 2667 and row["net_revenue"] == 8000
    by_category = _report(sales, group_by="category")["rows"]
    assert [(r["category"], r["orders"], r["units"]) for r in by_category] == [
        ("mugs", 3, 6),
        ("tea", 1, 2),
    ]
    response = sales.client.get(
        "/v1/reports/sales",
        params={"group_by": "month"},
        headers={**sales.headers["staff"], "Accept": "text/csv"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1 and rows[0]["revenue"] == "8000"
    assert rows[0]["period"] == today.replace(day=1).isoformat()
    as_format = sales.get("/v1/reports/sales", "staff", format="csv")
    assert as_format.text.startswith("period,category,currency,")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"group_by": "year"}, "group_by"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_report_parameters_are_422_naming_the_field(
    sales: Shop, params: dict[str, str], field: str
) -> None:
    assert_problem(sales.get("/v1/reports/sales", "staff", **params), 422, field)


def test_the_revenue_chart_is_svg_with_a_bar_per_day(sales: Shop) -> None:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=6)
    params = {"from": start.isoformat(), "to": today.isoformat(), "min_position": sales.position}  # type: ignore[attr-defined]
    response = sales.get("/v1/reports/sales.svg", "staff", **params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG_NS}svg"
    bars = root.findall(f".//{SVG_NS}rect[@class='bar']")
    assert len(bars) == 7
    assert [b.get("data-revenue") for b in bars] == ["0"] * 6 + ["8000"]
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert "Day (UTC)" in texts and "Revenue (EUR)" in texts
    assert_problem(
        sales.get("/v1/reports/sales.svg", "staff", **{"from": "2020-01-01"}), 422, "from"
    )
