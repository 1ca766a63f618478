"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium,
never a downloaded one) against tillroll served by uvicorn on a free port. Ops watch the
read models, rebuild one and see an order reach them; an auditor travels an order's history
and verifies it; a customer is refused; a form without its CSRF token is refused. The test
takes the screenshots the README shows (docs/console-ops.png, docs/console-audit.png): into
docs/ with TILLROLL_UPDATE_SCREENSHOTS=1, else into the test's temporary directory (so a
test run leaves the checkout clean)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tillroll.infra.embedded import EmbeddedServers
from tillroll.projections.registry import BY_NAME

from tests.conftest import DEMO_PASSWORD, free_port, fresh_settings, open_accounts
from tillroll.bootstrap import Runtime, http_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
SHOTS_TO_DOCS = os.environ.get("TILLROLL_UPDATE_SCREENSHOTS") == "1"
WAIT_MS = 15_000
SKU = "MUG-CLASSIC"
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}

sync_api = pytest.importorskip("playwright.sync_api")
if not shutil.which(CHROMIUM):  # .ci/run installs it: `apt-get install -y chromium`
    pytest.skip(f"no {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)


class Served:
    """tillroll on a real port over one runtime whose projection engine the test starts and
    stops itself (to hold a rebuild still while the browser looks at it)."""

    def __init__(self, base: str, runtime: Runtime) -> None:
        self.base = base
        self.runtime = runtime
        self.http = httpx.Client(base_url=base, timeout=30)
        self.tokens = {role: self._token(role) for role in ("customer", "staff", "ops")}

    def _token(self, role: str) -> str:
        body = {"email": f"{role}@example.com", "password": DEMO_PASSWORD}
        answer = self.http.post("/v1/auth/login", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def post(self, path: str, role: str, body: Any = None) -> Any:
        answer = self.http.post(
            path, json=body, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def order(self) -> str:
        line = {"sku": SKU, "quantity": 1, "unit_price": {"amount": 1200, "currency": "EUR"}}
        return str(
            self.post("/v1/orders", "customer", {"lines": [line], "shipping_address": ADDRESS})[
                "order_id"
            ]
        )


@pytest.fixture(scope="module")
def served(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    runtime = Runtime.open(fresh_settings(servers, tmp_path_factory.mktemp("console")))
    open_accounts(runtime)
    runtime.runner.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            http_app(runtime, run_projections=False), port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        shop = Served(f"http://127.0.0.1:{port}", runtime)
        price = {"amount": 1200, "currency": "EUR"}
        shop.post("/v1/products", "staff", {"sku": SKU, "name": "Classic mug", "price": price})
        shop.post(f"/v1/inventory/{SKU}/receipts", "staff", {"quantity": 50})
        yield shop
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.runner.stop()
        runtime.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go: docs/ when asked to update them, else this test's tmp_path."""
    return DOCS if SHOTS_TO_DOCS else tmp_path


@pytest.fixture
def new_page(browser: Any, served: Served) -> Iterator[Callable[[], Any]]:
    contexts = []

    def make() -> Any:
        context = browser.new_context(
            base_url=served.base, viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, role: str) -> Any:
    page.goto("/console/login")
    page.get_by_label("Email").fill(f"{role}@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    return page


def no_sideways_scroll(page: Any, width: int = 390) -> bool:
    page.set_viewport_size({"width": width, "height": 800})
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 800})
    return bool(fits)


def test_ops_watch_the_read_models_rebuild_one_and_see_an_order_arrive(
    served: Served, new_page: Callable[[], Any], shots: Path
) -> None:
    page = log_in(new_page(), "ops")
    assert page.url.endswith("/console/ops")
    assert page.get_by_role("heading", name="Read models and jobs").is_visible()
    models = page.locator("#models tbody tr")
    assert models.count() == len(BY_NAME)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#models tbody tr')]"
        ".every(row => row.dataset.state === 'running')"
    )
    assert page.locator("[data-ready]").inner_text() == "ready"

    # An order placed through the API shows up in the order read model's count within a poll.
    position = page.locator("tr[data-model=order_status] td.position")
    before = int(position.inner_text())
    served.order()
    page.wait_for_function(
        f"() => Number(document.querySelector('tr[data-model=order_status] td.position')"
        f".textContent) > {before}"
    )

    # A rebuild, held still (engine stopped) so the bar is there to see, then let go.
    row = page.locator("tr[data-model=product_cards]")
    build = int(row.locator("td.build").inner_text())
    served.runtime.runner.stop()
    try:
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Rebuild").click()
        page.locator("#message", has_text="rebuild started").wait_for()
        row.locator("progress").wait_for(state="visible")
        assert row.get_attribute("data-state") == "rebuilding"
        page.screenshot(path=str(shots / "console-ops.png"), full_page=True)
    finally:
        served.runtime.runner.start()
    row.locator("progress").wait_for(state="detached")
    page.wait_for_function(
        "() => document.querySelector('tr[data-model=product_cards]').dataset.state === 'running'"
    )
    assert int(row.locator("td.build").inner_text()) > build

    # Verify: the live copy against a rebuild from the log.
    page.locator("tr[data-model=order_status]").get_by_role("button", name="Verify").click()
    page.locator("#message", has_text="identical to a rebuild").wait_for()
    assert no_sideways_scroll(page)


def test_an_auditor_travels_an_orders_history_and_verifies_it(
    served: Served, new_page: Callable[[], Any], shots: Path
) -> None:
    order_id = served.order()
    served.post(f"/v1/orders/{order_id}/cancel", "customer")
    page = log_in(new_page(), "auditor")
    assert page.url.endswith("/console/audit")
    page.get_by_label("Stream or order id").fill(order_id)
    with page.expect_navigation():
        page.get_by_role("button", name="Open").click()
    timeline = page.locator("#timeline tbody tr")
    last = timeline.count()
    assert last >= 2
    assert "principal" not in timeline.first.inner_text()  # who, not the key
    assert "customer" in timeline.first.inner_text()

    slider = page.get_by_role("slider", name="Version")
    slider.focus()
    page.keyboard.press("Home")  # the keyboard moves it as well as a mouse
    page.locator("#state-at[data-version='1']").wait_for()
    assert "placed" in page.locator("tr[data-field=status]").inner_text()

    page.keyboard.press("End")
    page.locator(f"#state-at[data-version='{last}']").wait_for()
    status = page.locator("tr[data-field=status]")
    assert "cancelled" in status.inner_text()
    assert status.locator("mark ins").inner_text() == '"cancelled"'  # the change, in words too

    page.get_by_role("button", name="Verify this stream").click()
    assert page.locator("#verify-stream-result [data-verify]").get_attribute("data-verify") == "ok"
    page.get_by_role("button", name="Verify the whole log").click()
    assert page.locator("#verify-result [data-verify]").get_attribute("data-verify") == "ok"

    with page.expect_download() as download:
        page.get_by_role("link", name="Download an anchor").click()
    assert download.value.suggested_filename.startswith("tillroll-anchor-")
    page.screenshot(path=str(shots / "console-audit.png"), full_page=True)
    assert no_sideways_scroll(page)


def test_a_customer_is_refused_with_a_page_that_says_so(
    served: Served, new_page: Callable[[], Any]
) -> None:
    page = new_page()
    answers: list[int] = []
    page.on(
        "response",
        lambda r: answers.append(r.status) if r.request.resource_type == "document" else None,
    )
    log_in(page, "customer")
    assert answers[-1] == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert "customer" in page.locator("main").inner_text()


def test_a_form_posted_without_its_csrf_token_is_refused(
    served: Served, new_page: Callable[[], Any]
) -> None:
    page = log_in(new_page(), "ops")
    # The page's own origin, its session cookie, but not the token its forms carry.
    status = page.evaluate(
        "fetch('/console/ops/projections/order_status/retry', {method: 'POST'}).then(r => r.status)"
    )
    assert status == 403
    token = page.locator("form.logout input[name=_csrf_token]").get_attribute("value")
    status = page.evaluate(
        "t => fetch('/console/ops/projections/order_status/retry',"
        " {method: 'POST', headers: {'x-csrftoken': t}}).then(r => r.status)",
        token,
    )
    assert status == 200
