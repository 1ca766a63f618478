"""All SQL read models of a page share one transaction: a statement the database refuses for
one read model (a savepoint per model) stops that model only, at the event that caused it,
while the others commit the same page."""

from __future__ import annotations

from typing import Any

import pytest
from tillroll.projections.engine.verify import verify
from tillroll.projections.product_search import ProductSearch

from tests.integration.readmodels import status_when
from tests.integration.workload import create_product
from tillroll.bootstrap import Runtime


def test_a_statement_the_database_refuses_stops_only_its_read_model_at_its_event(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ProductSearch.on_created

    def refused(self: Any, cur: Any, event: Any, position: int) -> None:
        if event.sku == "REFUSED":
            cur.execute("SELECT 1 / 0", ())  # fails in PostgreSQL, not in Python
        original(self, cur, event, position)

    monkeypatch.setattr(ProductSearch, "on_created", refused)
    create_product(runtime.store, "BEFORE", 100, 1)
    refused_at = create_product(runtime.store, "REFUSED", 100, 0)
    create_product(runtime.store, "AFTER", 100, 2)
    head = runtime.store.head()
    runtime.runner.start()  # one page holds all of it: the whole batch is refused first
    try:
        rows = status_when(
            runtime.runner,
            lambda rows: (
                rows["product_search"].error_position == refused_at
                and rows["price_history"].lag_events == 0
            ),
        )
        failed = rows["product_search"]
        assert failed.state == "failed"
        assert failed.error_position == refused_at  # the event, not just its batch
        assert "division by zero" in (failed.last_error or "")
        assert failed.position < refused_at  # what came before it is applied
        # price_history handles the same events in the same transaction, and committed.
        assert all(row.position == head for name, row in rows.items() if name != "product_search")

        monkeypatch.setattr(ProductSearch, "on_created", original)  # the fix is deployed
        runtime.runner.retry("product_search")
        row = status_when(runtime.runner, lambda rows: rows["product_search"].position == head)[
            "product_search"
        ]
        assert row.state == "running" and row.last_error is None
    finally:
        runtime.runner.stop()
    assert verify(runtime.runner, "product_search").ok
