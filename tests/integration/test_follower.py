"""One follower per process: each page of the log is read once for every read model, and
reactions are followed by the same follower, exactly once in effect."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from eventsourcing.utils import get_topic
from tillroll.aggregates.catalog.product import Product
from tillroll.projections.engine.runner import ProjectionRunner
from tillroll.projections.engine.status import ProjectionStatus, collect_status
from tillroll.projections.registry import PROJECTIONS

from tests.integration.workload import create_product
from tillroll.bootstrap import Runtime

WAIT = 20.0


def wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def at_head(runner: ProjectionRunner, head: int) -> bool:
    """Every read model has read the event at `head` (it may have read further already)."""
    return all(runner.log.reached(runner.position(p), head) for p in runner.projections)


class Crash(Exception):
    pass


class RecordingReaction:
    """A reaction that writes down every event it is handed; it raises on `poison` (as a
    process killed in the middle of a batch would stop) until the test disarms it."""

    NAME = "record_new_products"

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.calls: list[list[int]] = []
        self.poison: int | None = None

    def topics(self) -> list[str]:
        return [get_topic(Product.Created)]

    def react(self, events: Sequence[tuple[int, Any]]) -> None:
        self.calls.append([position for position, _ in events])
        for position, event in events:
            assert isinstance(event, Product.Created)
            if position == self.poison:
                raise Crash(f"killed at {position}")
            self.seen.append(position)


@pytest.fixture
def reaction() -> RecordingReaction:
    return RecordingReaction()


def engine_with(runtime: Runtime, reaction: RecordingReaction) -> ProjectionRunner:
    """The runtime's read models and one reaction, set up (the reaction's row at the head)."""
    engine = ProjectionRunner(
        runtime.store,
        runtime.read_pool,
        runtime.redis,
        PROJECTIONS,
        reactions=[reaction],
        prefix=runtime.settings.redis_prefix,
    )
    engine.setup()
    return engine


@pytest.fixture
def runner(runtime: Runtime, reaction: RecordingReaction) -> Iterator[ProjectionRunner]:
    """The runtime's engine again, this time with a reaction (as the composition root will
    build it)."""
    engine = engine_with(runtime, reaction)
    yield engine
    engine.stop()


def test_the_follower_reads_each_page_of_the_log_once_for_every_read_model(
    runtime: Runtime,
) -> None:
    runner = runtime.runner
    create_product(runtime.store, "FIRST", 100, 1)
    runner.catch_up()
    reads: list[int] = []
    page = runtime.store.page

    def counting_page(after: int, limit: int, **kwargs: Any) -> Any:
        found = page(after, limit, **kwargs)
        if found.events and threading.current_thread().name == "projection-follower":
            reads.append(after)
        return found

    runtime.store.page = counting_page  # type: ignore[method-assign]
    runner.start()
    try:
        for i in range(5):
            # The position of the command's last event: the head read now may not show it
            # yet (the follower's own write transaction can hold the horizon back).
            written = create_product(runtime.store, f"SKU-{i}", 100, 2)
            wait_until(lambda written=written: at_head(runner, written))
    finally:
        runner.stop()
        del runtime.store.page
    assert reads, "the follower read nothing"
    assert [after for after, n in Counter(reads).items() if n > 1] == []


def _reaction_row(runner: ProjectionRunner) -> ProjectionStatus:
    return next(r for r in collect_status(runner) if r.name == RecordingReaction.NAME)


def test_a_new_reaction_starts_at_the_head_and_sees_each_later_event_once_in_order(
    runtime: Runtime, reaction: RecordingReaction
) -> None:
    create_product(runtime.store, "OLD", 100, 0)  # before the reaction existed: not replayed
    engine = engine_with(runtime, reaction)
    expected = [create_product(runtime.store, f"NEW-{i}", 100, 0) for i in range(6)]
    engine.start()
    try:
        wait_until(lambda: _reaction_row(engine).position == runtime.store.head())
    finally:
        engine.stop()
    assert reaction.seen == expected
    row = _reaction_row(engine)
    assert (row.target, row.state, row.lag_events, row.last_error) == (
        "reaction",
        "running",
        0,
        None,
    )


def test_a_reaction_killed_mid_batch_stops_alone_and_resumes_without_losing_an_event(
    runtime: Runtime, runner: ProjectionRunner, reaction: RecordingReaction
) -> None:
    start = _reaction_row(runner).position  # where it was registered: the head then
    for i in range(8):
        create_product(runtime.store, f"SKU-{i}", 100, 1)
    expected = [n.id for n in runtime.store.read(start, 100, topics=reaction.topics())]
    assert len(expected) == 8
    reaction.poison = expected[5]
    head = runtime.store.head()
    runner.start()
    try:
        wait_until(lambda: _reaction_row(runner).state == "failed" and at_head(runner, head))
        failed = _reaction_row(runner)
        assert failed.error_position == expected[5]
        assert "killed at" in (failed.last_error or "")
        assert all(r.position == head for r in collect_status(runner) if r.target != "reaction")
        assert len(reaction.calls[0]) == 8  # one batch, killed in its middle

        reaction.poison = None  # the fix is deployed
        runner.retry(RecordingReaction.NAME)
        wait_until(lambda: _reaction_row(runner).position == head)
    finally:
        runner.stop()
    row = _reaction_row(runner)
    assert row.state == "running" and row.last_error is None
    assert list(dict.fromkeys(reaction.seen)) == expected  # every event, in order
    # Handed again: only what had not been recorded when it was killed (the batch up to the
    # event it died on), and each of those once more at most.
    again = [p for p, n in Counter(reaction.seen).items() if n > 1]
    assert again == expected[:5]
    assert max(Counter(reaction.seen).values()) == 2
