"""Dump every read model into plain Python values, so two builds can be compared."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from tillroll.infra.settings import Settings
from tillroll.projections.engine.model import RedisProjection, SqlProjection
from tillroll.projections.engine.status import collect_status

from tillroll.bootstrap import Runtime


def dump(rt: Runtime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in rt.runner.projections:
        if isinstance(p, SqlProjection):
            with rt.read_pool.connection() as conn:
                rows = conn.execute(f"SELECT * FROM {p.table} ORDER BY 1, 2").fetchall()
            out[p.NAME] = [tuple(str(v) for v in row) for row in rows]
        else:
            assert isinstance(p, RedisProjection)
            keys = sorted(
                k.decode() for k in rt.redis.scan_iter(match=f"{p.namespace}*", count=1000)
            )
            values: dict[str, Any] = {}
            for key in keys:
                if key == p.position_key:
                    continue
                kind = rt.redis.type(key).decode()
                short = key[len(p.namespace) :]
                if kind == "hash":
                    values[short] = sorted(rt.redis.hgetall(key).items())
                elif kind == "list":
                    values[short] = rt.redis.lrange(key, 0, -1)
                elif kind == "zset":
                    values[short] = rt.redis.zrange(key, 0, -1, withscores=True)
                elif kind == "stream":
                    values[short] = rt.redis.xrange(key)
                else:
                    values[short] = rt.redis.get(key)
            out[p.NAME] = values
    return out


def clean_rebuild(settings: Settings) -> dict[str, Any]:
    """Every read model built from scratch, beside the test's own, from the same log."""
    fresh = dataclasses.replace(
        settings,
        read_schema=settings.read_schema + "_clean",
        redis_prefix=settings.redis_prefix + "clean:",
    )
    rt = Runtime.open(fresh)
    try:
        rt.runner.catch_up()
        return dump(rt)
    finally:
        rt.close()


def status_when(
    runner: Any, done: Callable[[dict[str, Any]], bool], timeout: float = 20.0
) -> dict[str, Any]:
    """Every read model's status row by name, polled until `done(rows)` holds or `timeout`
    seconds pass (the caller asserts on what it gets)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {row.name: row for row in collect_status(runner)}
        if done(rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(0.05)
