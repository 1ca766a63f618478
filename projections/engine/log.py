"""What the engine needs of the event log (a port), and a page of it decoded once for every
consumer that reads it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class LogPage(Protocol):
    events: Sequence[Any]
    end: int


class EventLog(Protocol):
    """The event store as a log. Positions are plain integers that only grow in the order
    events become visible (docs/EVENT-LOG.md); record a page's `end` as the position read."""

    database_url: str
    channel: str

    def head(self) -> int: ...

    def read(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Any]: ...

    def page(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> LogPage: ...

    def reached(self, position: int, wanted: int) -> bool: ...

    def count_after(self, position: int) -> int: ...

    def decode(self, notification: Any) -> Any: ...


class Page:
    """The events after `after`, up to `end`, each decoded at most once however many
    consumers read them (decoded events are shared: handlers must not change them)."""

    def __init__(self, log: EventLog, after: int, page: LogPage) -> None:
        self.log = log
        self.after = after
        self.notifications: Sequence[Any] = page.events
        self.end = page.end
        self._decoded: dict[int, Any] = {}

    @property
    def moved(self) -> bool:
        return self.end != self.after

    def decoded(self, index: int) -> Any:
        """The domain event at `index`; raises what decoding raised (to every consumer that
        asks, so an event that cannot be decoded stops each of them at that event)."""
        try:
            found = self._decoded[index]
        except KeyError:
            try:
                found = self.log.decode(self.notifications[index])
            except Exception as exc:
                found = _Undecodable(exc)
            self._decoded[index] = found
        if isinstance(found, _Undecodable):
            raise found.error
        return found


class _Undecodable:
    def __init__(self, error: Exception) -> None:
        self.error = error
