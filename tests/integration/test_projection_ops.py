"""Operating read models: rebuilds beside the live copy while the shop keeps serving,
rebuilds that survive SIGKILL, poison events, blue/green on a version bump, verification."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from tillroll.aggregates.errors import DomainError
from tillroll.infra.settings import Settings
from tillroll.projections.engine.catalogue import BUILDING, LIVE
from tillroll.projections.engine.verify import verify
from tillroll.projections.product_search import ProductSearch
from tillroll.queries import catalog as catalog_q
from tillroll.queries.read_side import ReadSide

from tests.conftest import child_env
from tests.integration.readmodels import clean_rebuild, dump, status_when
from tests.integration.workload import create_product, order, shop
from tillroll.bootstrap import Runtime

ROOT = Path(__file__).resolve().parents[2]


def test_a_rebuild_under_load_never_shows_readers_an_empty_model(runtime: Runtime) -> None:
    for i in range(20):
        create_product(runtime.store, f"SKU-{i}", 100 + i, 10_000)
    runtime.runner.catch_up()
    runtime.runner.rebuild_batch = 50  # many small batches: readers get many chances
    read = ReadSide(runtime.redis, runtime.read_pool, runtime.live_builds(ttl=0.0), runtime.store)
    stop = threading.Event()
    seen: dict[str, list[int]] = {"search": [], "cards": []}
    failures: list[BaseException] = []

    def writer() -> None:
        customer = uuid.uuid4()
        while not stop.is_set():
            try:
                order(
                    runtime.store, customer, [(f"SKU-{i % 20}", 1, 100 + i % 20) for i in range(3)]
                )
            except DomainError:
                pass
            except BaseException as exc:
                failures.append(exc)
                return

    def reader() -> None:
        while not stop.is_set():
            try:
                page = catalog_q.search_products(read, catalog_q.ProductFilter(limit=100))
                seen["search"].append(len(page.items))
                cards = [catalog_q.product_card(read, f"SKU-{i}") for i in range(20)]
                seen["cards"].append(sum(card is not None for card in cards))
            except BaseException as exc:
                failures.append(exc)
                return

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    try:
        for name in ("product_search", "product_cards"):
            runtime.runner.rebuild(name)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert len(seen["search"]) >= 5, "the readers hardly ran during the rebuilds"
    assert set(seen["search"]) == {20}
    assert seen["cards"] and set(seen["cards"]) == {20}
    builds = {b.name: b.build for b in runtime.runner.builds() if b.state == LIVE}
    assert builds["product_search"] == 2 and builds["product_cards"] == 2
    runtime.runner.catch_up()
    for name in ("product_search", "product_cards"):
        assert verify(runtime.runner, name).ok


def test_a_retired_build_is_dropped_after_the_grace_period(runtime: Runtime) -> None:
    create_product(runtime.store, "CUP", 300, 5)
    runtime.runner.catch_up()
    old = runtime.live_builds().get("product_cards")
    runtime.runner.rebuild("product_cards")
    assert runtime.redis.exists(f"{old.namespace}CUP")  # still there for slow readers
    runtime.runner.retire_after = 0.0
    assert runtime.runner.retire_old("product_cards") == 1
    assert not runtime.redis.exists(f"{old.namespace}CUP")
    assert [b.state for b in runtime.runner.builds("product_cards")] == [LIVE]


@pytest.fixture
def runtime_v1(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A runtime whose live product_search was built as version 1 (the version before the
    bump below), whatever version the code is at today."""
    monkeypatch.setattr(ProductSearch, "VERSION", 1)
    rt = Runtime.open(settings)
    monkeypatch.undo()
    yield rt
    rt.close()


def test_a_version_bump_builds_the_new_version_beside_the_old_then_switches(
    runtime_v1: Runtime,
) -> None:
    runtime = runtime_v1
    create_product(runtime.store, "PAN", 900, 3)
    runtime.runner.catch_up()

    class ProductSearchV2(ProductSearch):
        VERSION = 2

    runtime.runner.classes["product_search"] = ProductSearchV2
    runtime.runner.setup()  # what a deploy's start does
    states = {(b.version, b.state) for b in runtime.runner.builds("product_search")}
    assert states == {(1, LIVE), (2, BUILDING)}
    runtime.runner.catch_up()
    live = runtime.runner.live("product_search")
    assert live is not None and live.version == 2
    with runtime.read_pool.connection() as conn:
        assert conn.execute(f"SELECT sku FROM {ProductSearchV2(live.build).table}").fetchall() == [
            ("PAN",)
        ]


def test_a_poison_event_stops_its_projection_only_and_retry_resumes_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_product(runtime.store, "GOOD", 100, 1)
    original = ProductSearch.on_created

    def choke(self: Any, cur: Any, event: Any, position: int) -> None:
        if event.sku == "POISON":
            raise ValueError("cannot index this product")
        original(self, cur, event, position)

    monkeypatch.setattr(ProductSearch, "on_created", choke)
    poison_position = create_product(runtime.store, "POISON", 100, 0)
    create_product(runtime.store, "AFTER", 100, 2)
    head = runtime.store.head()
    runtime.runner.start()
    try:
        rows = status_when(
            runtime.runner,
            lambda rows: (
                rows["product_search"].state == "failed" and rows["product_cards"].lag_events == 0
            ),
        )
        failed = rows["product_search"]
        assert failed.state == "failed"
        assert failed.error_position == poison_position
        assert "cannot index this product" in (failed.last_error or "")
        assert failed.position < poison_position  # stopped before it: nothing skipped
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


def _cli(settings: Settings, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillroll.cli", *args],
        env=_env(settings, **extra_env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


_env = child_env


def test_cli_lists_reports_rebuilds_and_verifies(runtime: Runtime, settings: Settings) -> None:
    shop(runtime.store, orders=40)
    runtime.runner.catch_up()
    head = runtime.store.head()

    listing = _cli(settings, "projections", "list")
    assert listing.returncode == 0
    assert "product_search" in listing.stdout and "Order.Placed" in listing.stdout

    status = _cli(settings, "projections", "status")
    assert status.returncode == 0, status.stderr
    assert f"log head: {head}" in status.stdout
    assert "order_status" in status.stdout and "running" in status.stdout

    rebuilt = _cli(settings, "projections", "rebuild", "customer_orders")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"customer_orders: build 2 is live at position {head}" in rebuilt.stdout
    assert "100.0%" in rebuilt.stderr  # the progress bar reached the end

    verified = _cli(settings, "projections", "verify", "customer_orders")
    assert verified.returncode == 0, verified.stderr
    assert "identical to a rebuild from the log" in verified.stdout

    unknown = _cli(settings, "projections", "rebuild", "nope")
    assert unknown.returncode == 1
    assert "no read model called 'nope'" in unknown.stderr


def test_verify_names_the_row_an_operator_changed_by_hand(
    runtime: Runtime, settings: Settings
) -> None:
    create_product(runtime.store, "LAMP", 4500, 2)
    runtime.runner.catch_up()
    live = runtime.live_builds().get("price_history")
    with runtime.read_pool.connection() as conn:
        conn.execute(f"UPDATE {live.table} SET amount = 1 WHERE sku = 'LAMP'")
    result = _cli(settings, "projections", "verify", "price_history")
    assert result.returncode == 1
    assert "differs from a rebuild in 2 items" in result.stderr
    assert "(LAMP," in result.stdout and "4500" in result.stdout


def test_a_rebuild_killed_with_sigkill_resumes_to_a_clean_result(
    runtime: Runtime, settings: Settings
) -> None:
    shop(runtime.store, orders=200)
    runtime.runner.catch_up()
    head = runtime.store.head()
    command = [sys.executable, "-m", "tillroll.cli", "projections", "rebuild", "inventory_ledger"]
    env = _env(settings, TILLROLL_PROJECTION_REBUILD_BATCH="5")
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        killed_at = None
        while time.monotonic() < deadline and proc.poll() is None:
            building = [b for b in runtime.runner.builds("inventory_ledger") if b.state == BUILDING]
            if building and 0 < building[0].position < head:
                before = building[0].position
                time.sleep(0.05)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                kills += 1
                killed_at = before
                break
            time.sleep(0.005)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if killed_at is not None:
            # The half-done build kept its own position: nothing was lost by the kill.
            after = next(
                b for b in runtime.runner.builds("inventory_ledger") if b.state == BUILDING
            )
            assert after.position >= killed_at
    assert kills >= 2
    finished = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    assert {b.state for b in runtime.runner.builds("inventory_ledger")} == {LIVE, "retired"}
    assert verify(runtime.runner, "inventory_ledger").ok
    rebuilt = dump(runtime)["inventory_ledger"]
    expected = clean_rebuild(settings)["inventory_ledger"]
    assert rebuilt == expected and len(rebuilt) > 100


def test_a_cli_rebuild_finishes_when_a_running_runner_switches_it_first(runtime: Runtime) -> None:
    shop(runtime.store, orders=30)
    runtime.runner.start()  # what `tillroll serve` runs in the background
    try:
        finished: list[Any] = []
        worker = threading.Thread(
            target=lambda: finished.append(runtime.runner.rebuild("order_status"))
        )
        worker.start()
        worker.join(30)
        assert finished, "the rebuild never noticed that its build had gone live"
    finally:
        runtime.runner.stop()
    assert runtime.runner.live("order_status").build == finished[0].build
