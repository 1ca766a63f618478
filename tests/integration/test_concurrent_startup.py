"""Several processes starting at the same instant on one empty database (a compose stack's
api, projector and worker after `up`) all start: the start-up DDL is serialised by an
advisory lock, so none fails on the catalogue's unique index or with "tuple concurrently
updated"."""

from __future__ import annotations

import dataclasses
import threading
import uuid

from tillroll.infra.settings import Settings

from tillroll.bootstrap import Runtime

STARTERS = 3


def _open_at_once(settings: Settings) -> tuple[list[Runtime], list[BaseException]]:
    barrier = threading.Barrier(STARTERS)
    opened: list[Runtime] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(Runtime.open(settings))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return opened, errors


def test_runtimes_opened_at_once_on_an_empty_schema_all_open(settings: Settings) -> None:
    ns = f"race{uuid.uuid4().hex[:8]}"
    fresh = dataclasses.replace(
        settings,
        event_schema=f"{ns}_events",
        read_schema=f"{ns}_read",
        redis_prefix=f"{ns}:",
        pg_pool_size=2,
    )
    opened, errors = _open_at_once(fresh)  # without the lock: 2 of 3 fail, every try here
    for rt in opened:
        rt.close()
    assert not errors, errors
    assert len(opened) == STARTERS
