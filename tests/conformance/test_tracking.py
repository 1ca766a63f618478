"""The library's ProjectionRunner with its PostgresTrackingRecorder, following a tillroll
log written by concurrent writers, across a forced late commit and across a restart: every
event is counted exactly once (issue 11 saw `IntegrityError … had tracked 61 already`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.projection import ProjectionRunner
from eventsourcing.tests.projection import AggregateEventCountersProjection
from eventsourcing.utils import Environment

from tests.conformance.conftest import CONTROL, Postgres
from tests.conformance.test_projection import PostgresEventCounters

WRITERS, SAVES = 8, 25


def runner_env(pg: Postgres, single_row: bool) -> dict[str, str]:
    env = {**pg.env("APPLICATION_"), **pg.env("EVENTCOUNTERS_")}
    env["EVENTCOUNTERS_SINGLE_ROW_TRACKING"] = "t" if single_row else "f"
    env["APPLICATION_POSTGRES_POOL_SIZE"] = str(WRITERS)
    return env


def follow(env: dict[str, str]) -> ProjectionRunner[Any, Any]:
    return ProjectionRunner(
        application_class=Application,
        projection_class=AggregateEventCountersProjection,
        view_class=PostgresEventCounters,
        env=env,
    )


def view(env: dict[str, str]) -> PostgresEventCounters:
    return InfrastructureFactory.construct(
        env=Environment(name=AggregateEventCountersProjection.name, env=env)
    ).tracking_recorder(PostgresEventCounters)


def write_concurrently(app: Application[Any], saves: int) -> int:
    """WRITERS threads, each saving `saves` new aggregates; the largest position written."""
    positions: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(saves):
                positions.append(app.save(Aggregate())[-1].notification.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return max(positions)


@pytest.mark.parametrize("single_row", [True, False], ids=["single-row", "multi-row"])
def test_the_library_runner_counts_each_event_of_concurrent_writers_once(
    postgres: Postgres, single_row: bool
) -> None:
    env = runner_env(postgres, single_row)
    counters = view(env)
    with follow(env) as runner:
        last = write_concurrently(runner.app, SAVES)
        counters.wait(runner.app.name, last, timeout=30)
        assert counters.get_created_event_counter() == WRITERS * SAVES
        assert counters.max_tracking_id(runner.app.name) == last


def test_the_library_runner_resumes_after_a_restart_without_doubling(postgres: Postgres) -> None:
    env = runner_env(postgres, single_row=True)
    counters = view(env)
    with follow(env) as runner:
        first = write_concurrently(runner.app, SAVES // 2)
        counters.wait(runner.app.name, first, timeout=30)
    app = Application(env={k[len("APPLICATION_") :]: v for k, v in env.items()})
    written_meanwhile = write_concurrently(app, SAVES // 2)  # while nobody follows
    with follow(env) as runner:
        last = write_concurrently(runner.app, SAVES - SAVES // 2 * 2 + 1)
        counters.wait(runner.app.name, max(last, written_meanwhile), timeout=30)
    total = WRITERS * (SAVES // 2 * 2 + SAVES - SAVES // 2 * 2 + 1)
    assert counters.get_created_event_counter() == total


@pytest.mark.skipif(CONTROL, reason="drives TillrollRecorder.append on a held transaction")
def test_an_append_held_open_does_not_let_the_runner_pass_a_later_one(postgres: Postgres) -> None:
    """A takes its position first and holds its transaction; B's save waits for A's commit
    (it cannot commit first any more); the runner, following all along, counts both once."""
    env = runner_env(postgres, single_row=True)
    counters = view(env)
    with follow(env) as runner:
        app = runner.app
        mapper = app.mapper
        a_events = [mapper.to_stored_event(e) for e in Aggregate().collect_events()]
        b_done: list[int] = []
        with psycopg.connect(postgres.database_url) as a:
            a.execute(f"SET search_path TO {postgres.schema}")
            ids_a = app.recorder.append(a, a_events)  # type: ignore[attr-defined]
            b = threading.Thread(
                target=lambda: b_done.append(app.save(Aggregate())[-1].notification.id)
            )
            b.start()
            time.sleep(0.3)
            assert b_done == []  # B waits for A's append lock
            assert counters.max_tracking_id(app.name) is None
            a.commit()
        b.join(10)
        assert b_done and b_done[0] > max(ids_a)
        counters.wait(app.name, b_done[0], timeout=30)
        assert counters.get_created_event_counter() == 2
