"""One command runs everything: `tillroll serve` on the embedded default also runs a job
worker, so an order placed over HTTP leaves its confirmation e-mail under the data
directory, and ops see the jobs at GET /v1/ops/jobs; `--no-worker` leaves the jobs queued."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from tests.integration.test_cli_serve import _get, _login, serving

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def _place_order(base: str, token: str) -> str:
    body = {
        "lines": [
            {"sku": "MUG-CLASSIC", "quantity": 1, "unit_price": {"amount": 1299, "currency": "EUR"}}
        ],
        "shipping_address": ADDRESS,
    }
    request = urllib.request.Request(
        f"{base}/v1/orders",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["order_id"]


def _wait_for(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)  # the worker is another process: nothing to wait on but the file
    return False


def test_serve_runs_a_worker_that_sends_the_order_confirmation(tmp_path: Path) -> None:
    data_dir = tmp_path / "shop"
    with serving(data_dir) as (base, _proc):
        order_id = _place_order(base, _login(base, "customer"))
        mail = data_dir / "mail" / f"order-confirmation.{order_id}@tillroll.eml"
        assert _wait_for(mail, 30), sorted(p.name for p in (data_dir / "mail").glob("*"))
        status, jobs = _get(f"{base}/v1/ops/jobs", _login(base, "ops"))
        assert status == 200
        assert jobs["scheduled"] == 1  # the order's reservation expiry, due in 30 minutes
        (expiry,) = jobs["jobs"]["scheduled"]
        assert expiry["id"] == f"reservation-expiry-{order_id}"
        assert expiry["command"] == "ExpireReservation"
        assert _get(f"{base}/v1/ops/jobs", _login(base, "customer"))[0] == 403
