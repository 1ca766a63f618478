"""Verify a read model: rebuild it into a scratch build up to the live build's position and
compare the two row by row (SQL) or key by key (Redis), by checksums."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable

import msgspec
import psycopg
from tillroll.projections.engine import catalogue
from tillroll.projections.engine.catalogue import LIVE, SCRATCH
from tillroll.projections.engine.model import Projection, RedisProjection, SqlProjection
from tillroll.projections.engine.runner import ProjectionRunner

ATTEMPTS = 5


class Difference(msgspec.Struct):
    item: str
    live: str | None
    rebuilt: str | None


class VerifyResult(msgspec.Struct):
    name: str
    live_build: int
    position: int
    items: int
    checksum_live: str
    checksum_rebuilt: str
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences and self.checksum_live == self.checksum_rebuilt


def snapshot(runner: ProjectionRunner, projection: Projection) -> tuple[int, dict[str, str]]:
    """(position, {item: content}) of one build, read consistently."""
    if isinstance(projection, SqlProjection):
        with runner.sql_pool.connection() as conn:
            # One snapshot for the position and the rows, so they belong together.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction():
                    position = catalogue.position(conn, projection.NAME, projection.build)
                    items: dict[str, str] = {}
                    for table in projection.tables:
                        rows = conn.execute(f"SELECT t::text FROM {table} t").fetchall()
                        base = table.rsplit("_b", 1)[0]  # tables are named per build
                        for text, count in Counter(row[0] for row in rows).items():
                            items[f"{base}:{text}"] = str(count)
            finally:
                conn.isolation_level = None
        return position, items
    assert isinstance(projection, RedisProjection)
    r = runner.redis
    for _ in range(ATTEMPTS):
        before = int(r.get(projection.position_key) or 0)
        items = {}
        for raw in r.scan_iter(match=f"{projection.namespace}*", count=1000):
            key = raw.decode()
            if key == projection.position_key:
                continue
            kind = r.type(key).decode()
            if kind == "hash":
                value = sorted((k.decode(), v.decode()) for k, v in r.hgetall(key).items())
            elif kind == "list":
                value = [v.decode() for v in r.lrange(key, 0, -1)]
            elif kind == "set":
                value = sorted(v.decode() for v in r.smembers(key))
            elif kind == "zset":
                value = [(m.decode(), s) for m, s in r.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                value = [
                    (i.decode(), sorted((k.decode(), v.decode()) for k, v in fields.items()))
                    for i, fields in r.xrange(key)
                ]
            else:
                got = r.get(key)
                value = got.decode() if got is not None else None
            items[key[len(projection.namespace) :]] = json.dumps([kind, value])
        if int(r.get(projection.position_key) or 0) == before:
            return before, items
    raise RuntimeError(f"{projection.key} kept moving while it was read; try again")


def _digest(items: dict[str, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(items):
        h.update(hashlib.sha256(f"{key}\0{items[key]}".encode()).digest())
    return h.hexdigest()


def verify(
    runner: ProjectionRunner,
    name: str,
    *,
    progress: Callable[[Projection, int, int, float], None] | None = None,
) -> VerifyResult:
    runner.drop_scratch(name)
    live_build = next(b for b in runner.builds(name) if b.state == LIVE)
    live = runner.bind(live_build)
    scratch = runner.new_build(name, SCRATCH)
    try:
        for _ in range(ATTEMPTS):
            target = runner.position(live)
            while runner.step(scratch, runner.rebuild_batch, stop=target):
                if progress is not None:
                    progress(scratch, runner.position(scratch), target, 0.0)
            live_position, live_items = snapshot(runner, live)
            scratch_position, scratch_items = snapshot(runner, scratch)
            if live_position == scratch_position:
                break
        else:
            raise RuntimeError(f"{name} kept moving; could not compare at one position")
        differences = [
            Difference(item, live_items.get(item), scratch_items.get(item))
            for item in sorted(set(live_items) | set(scratch_items))
            if live_items.get(item) != scratch_items.get(item)
        ]
        return VerifyResult(
            name=name,
            live_build=live.build,
            position=live_position,
            items=len(live_items),
            checksum_live=_digest(live_items),
            checksum_rebuilt=_digest(scratch_items),
            differences=differences,
        )
    finally:
        runner.drop(scratch)
