"""Following the live_updates read model (projections/live_updates.py) for Server-Sent Events:
replay a channel's stream after a Last-Event-ID, then follow it as it grows.

One pub/sub subscription per process (LiveFeed) wakes the connections whose stream grew; each
connection then reads its own stream with a non-blocking XRANGE on the shared pool, so a
thousand open streams hold one Redis connection, not a thousand (XREAD BLOCK would hold one
each, and the pool's size is what every request shares). The wake-up carries no data: a lost
message (pub/sub is at most once, and a reconnect of the subscription loses what was sent
meanwhile) is covered by re-reading every stream at each keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from tillroll.queries.read_side import ReadSide

log = logging.getLogger(__name__)

MODEL = "live_updates"
KEEP_ALIVE = 15.0
"""Seconds between keep-alive comments on a quiet stream (and re-reads of it)."""
PAGE = 100


class Update(msgspec.Struct):
    """One entry of a channel: its id (the SSE event id) and its fields."""

    id: str
    fields: dict[str, str]


RESET = "reset"
"""Yielded as an Update's id when entries after the client's Last-Event-ID were trimmed
away: it should read the current state again (its order list, the product card)."""


def parse_id(value: str) -> tuple[int, int] | None:
    """A stream entry id ('<position>-<n>', or a bare position) as a comparable pair."""
    head, _, tail = value.strip().partition("-")
    if not head.isdigit() or (tail and not tail.isdigit()) or len(value) > 40:
        return None
    return int(head), int(tail or 0)


class LiveFeed:
    """Per process: one subscription to the wake channel, and the waiters per stream key."""

    def __init__(self, read: ReadSide, keep_alive: float = KEEP_ALIVE) -> None:
        self.read = read
        self.keep_alive = keep_alive
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def _model(self) -> Any:
        return self.read.live.cached(MODEL)

    async def model(self) -> Any:
        return self._model() or await asyncio.to_thread(self.read.redis_model, MODEL)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _ensure_listening(self, channel: str) -> None:
        if self._task is None or self._task.done():
            # A context of its own: not the first subscriber's request (its log fields).
            self._task = asyncio.get_running_loop().create_task(
                self._listen(channel), context=contextvars.Context()
            )

    async def _listen(self, channel: str) -> None:
        while True:
            pubsub = self.read.aredis.pubsub()
            try:
                await pubsub.subscribe(channel)
                # Streams may have grown while (re)subscribing: wake everyone once.
                self._wake_all()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] == "message":
                        for event in self.waiters.get(message["data"].decode(), ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "live updates: the wake-up subscription failed; retrying", exc_info=True
                )
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _wake_all(self) -> None:
        for events in self.waiters.values():
            for event in events:
                event.set()

    async def follow(
        self,
        key_of: Callable[[Any], str],
        after: str | None,
        until: float,
        *,
        current_first: bool = False,
    ) -> AsyncIterator[Update | None]:
        """The stream's entries after `after` (None: from now on; with `current_first`, the
        newest entry first), then each new one, until time.monotonic() reaches `until`.
        Yields None when the stream was quiet for `keep_alive` seconds."""
        model = await self.model()
        key = key_of(model)
        aredis = self.read.aredis
        wake = asyncio.Event()
        self.waiters.setdefault(key, set()).add(wake)
        try:
            self._ensure_listening(model.wake_channel)
            cursor = parse_id(after) if after else None
            if cursor is None:
                newest = await aredis.xrevrange(key, count=1)
                if newest and current_first:
                    yield _update(*newest[0])
                cursor = parse_id(newest[0][0].decode()) if newest else (0, 0)
            elif await _trimmed_after(aredis, key, cursor):
                yield Update(RESET, {})
            while time.monotonic() < until:
                wake.clear()  # before reading: a wake-up during the read is kept
                entries = await aredis.xrange(key, min=f"({cursor[0]}-{cursor[1]}", count=PAGE)
                for raw_id, fields in entries:
                    update = _update(raw_id, fields)
                    cursor = parse_id(update.id) or cursor
                    yield update
                if len(entries) == PAGE:
                    continue
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(wake.wait(), timeout=min(self.keep_alive, left))
                except TimeoutError:
                    if time.monotonic() < until:
                        yield None
                    # A rebuild may have made another build live: its stream has the same
                    # ids (log positions), so following goes on there.
                    fresh = self._model()
                    if fresh is not None and key_of(fresh) != key:
                        self._forget(key, wake)
                        key = key_of(fresh)
                        self.waiters.setdefault(key, set()).add(wake)
        finally:
            self._forget(key, wake)

    def _forget(self, key: str, wake: asyncio.Event) -> None:
        events = self.waiters.get(key)
        if events is not None:
            events.discard(wake)
            if not events:
                del self.waiters[key]


def _update(raw_id: bytes, fields: dict[bytes, bytes]) -> Update:
    return Update(raw_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})


async def _trimmed_after(aredis: Any, key: str, cursor: tuple[int, int]) -> bool:
    """Were entries after `cursor` trimmed away (so a replay would miss them)?"""
    try:
        info = await aredis.xinfo_stream(key)
    except Exception:  # no such stream: nothing was ever trimmed from it
        return False
    deleted = info.get("max-deleted-entry-id")
    if isinstance(deleted, bytes):
        deleted = deleted.decode()
    parsed = parse_id(str(deleted)) if deleted else None
    return parsed is not None and parsed > cursor
