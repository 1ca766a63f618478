"""GET /v1/ops/jobs: queued, scheduled and failed jobs, for ops only."""

from __future__ import annotations

from uuid import UUID

from tillroll.commands.notifications import SendOrderConfirmation

from tests.api.conftest import Shop, assert_problem
from tillroll.bootstrap import Runtime
from tillroll.worker import work


def test_ops_see_queued_scheduled_and_failed_jobs(shop: Shop, runtime: Runtime) -> None:
    shop.product("MUG", 1299, stock=5)
    placed = shop.order([("MUG", 1, 1299)])
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    runtime.runner.catch_up()
    runtime.jobs.enqueue(SendOrderConfirmation(UUID(int=1)), job_id="confirm-nobody")

    response = shop.get("/v1/ops/jobs", "ops")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["queued"], body["scheduled"], body["failed"]) == (2, 1, 0)
    queued = {job["id"] for job in body["jobs"]["queued"]}
    assert queued == {f"order-confirmation-{order_id}", "confirm-nobody"}
    (scheduled,) = body["jobs"]["scheduled"]
    assert scheduled["id"] == f"reservation-expiry-{order_id}" and scheduled["run_at"]

    work(runtime, burst=True)
    body = shop.get("/v1/ops/jobs", "ops").json()
    assert (body["queued"], body["scheduled"], body["failed"]) == (0, 1, 1)
    (failed,) = body["jobs"]["failed"]
    assert failed["id"] == "confirm-nobody" and "not found" in failed["error"]
    assert failed["command"] == "SendOrderConfirmation" and failed["failed_at"]


def test_jobs_are_for_ops_only(shop: Shop) -> None:
    assert_problem(shop.get("/v1/ops/jobs", "staff"), 403)
    assert shop.get("/v1/ops/jobs").status_code == 401
