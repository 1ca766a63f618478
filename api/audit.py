"""Audit routes (auditor; ops may export): history, time travel, export, verification.
They read the event store and never change anything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from tillroll.api.auth import AUDITOR, OPS, roles
from tillroll.queries import audit as q
from tillroll.queries.read_side import Page, encode_cursor

NDJSON = "application/x-ndjson"


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]

    @get("/streams/{stream_id:uuid}/events", guards=[roles(AUDITOR)], sync_to_thread=True)
    def history(
        self,
        stream_id: FromPath[UUID],
        store: NamedDependency[q.AuditLog],
        after_version: Annotated[int, QueryParameter(ge=0)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 1000,
    ) -> Page:
        """Every event of one aggregate in order: version, time, type, data, who caused it
        (principal and request id), position and chain hash."""
        events = q.history(store, stream_id, after_version=after_version, limit=limit)
        if not events and after_version == 0:
            raise q.NotFound(f"stream {stream_id} not found", field="stream_id")
        more = len(events) == limit
        return Page(items=events, next_cursor=encode_cursor([events[-1].version]) if more else None)

    @get("/streams/{stream_id:uuid}/state", guards=[roles(AUDITOR)], sync_to_thread=True)
    def state(
        self,
        stream_id: FromPath[UUID],
        store: NamedDependency[q.AuditLog],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
        at: Annotated[datetime | None, QueryParameter()] = None,
    ) -> q.AggregateState:
        """The aggregate exactly as it was at a version, or at a time (ISO 8601; UTC if no
        offset is given), rebuilt from its events (and snapshots where they exist)."""
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return q.state_at(store, stream_id, version=version, at=at)

    @get("/events", guards=[roles(AUDITOR, OPS)], sync_to_thread=True)
    def events(
        self,
        request: Request,
        store: NamedDependency[q.AuditLog],
        after: Annotated[int, QueryParameter(ge=0)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Response[Page] | Stream:
        """The global log from position `after`. With `Accept: application/x-ndjson` it
        streams every event after `after` (no limit), one JSON object a line, in constant
        memory."""
        if NDJSON in request.headers.get("accept", ""):
            encoder = msgspec.json.Encoder()

            def lines() -> Iterator[bytes]:
                for event in q.export(store, after):
                    yield encoder.encode(event) + b"\n"

            return Stream(lines(), media_type=NDJSON)
        events = list(q.export(store, after, limit))
        more = len(events) == limit
        page = Page(items=events, next_cursor=str(events[-1].position) if more else None)
        return Response(page)

    @get("/verify", guards=[roles(AUDITOR)], sync_to_thread=True)
    def verify(
        self,
        store: NamedDependency[q.AuditLog],
        stream_id: Annotated[UUID | None, QueryParameter()] = None,
    ) -> q.VerifyReport:
        """Recompute the hash chain of every stream (or one) and report the first broken
        link with its stream, version and position."""
        return q.verify(store, stream_id=stream_id)

    @get("/anchor", guards=[roles(AUDITOR)], sync_to_thread=True)
    def anchor(self, store: NamedDependency[q.AuditLog]) -> q.Anchor:
        """A digest of every stream's head now: keep it elsewhere; a later verify against it
        proves the history up to its position was not rewritten, even wholesale."""
        report = q.verify(store)
        return q.Anchor(
            report.position, datetime.now(UTC), report.streams, report.events, report.head_digest
        )
