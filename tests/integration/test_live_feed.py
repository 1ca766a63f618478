"""The live feed on a real valkey, without HTTP: a Last-Event-ID older than what a stream
still keeps yields a reset before the rest, a quiet stream yields keep-alives, and a stream
ends when its time is up."""

from __future__ import annotations

import asyncio
import time

from tillroll.infra.redis import async_redis_client
from tillroll.projections.live_updates import _STOCK
from tillroll.queries.live import RESET, LiveFeed

from tillroll.bootstrap import Runtime


async def _collect(feed: LiveFeed, key: str, after: str | None, seconds: float) -> list:
    found = []
    async for update in feed.follow(lambda _: key, after, time.monotonic() + seconds):
        found.append(update)
    return found


def test_a_trimmed_replay_resets_and_a_quiet_stream_keeps_alive(runtime: Runtime) -> None:
    runtime.runner.catch_up()
    read = runtime.read_side()
    model = read.redis_model("live_updates")
    key = model.stock_key("TRIMMED")
    for position in (5, 6, 7):  # the model's own script, keeping 2 entries
        runtime.redis.eval(
            _STOCK, 0, model.namespace, model.wake_channel, "TRIMMED", 1, 0, f"{position}-0", 2
        )

    async def run() -> tuple[list, list]:
        read.aredis = async_redis_client(runtime.settings.redis_url or "")
        try:
            feed = LiveFeed(read, keep_alive=0.05)
            replayed = await _collect(feed, key, "4-0", 0.3)  # 5 was trimmed away
            kept = await _collect(feed, key, "5-0", 0.3)  # all after 5 is still there
            await feed.close()
            return replayed, kept
        finally:
            await read.aredis.aclose()

    replayed, kept = asyncio.run(run())
    assert replayed[0] is not None and replayed[0].id == RESET
    assert [u.id for u in replayed[1:] if u is not None] == ["6-0", "7-0"]
    assert [u.id for u in kept if u is not None] == ["6-0", "7-0"]
    assert None in kept  # keep-alives while quiet, until the stream's time is up
