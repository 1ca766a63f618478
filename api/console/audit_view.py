"""The auditor view of the console: find a stream (an order's id is its stream's id), its
events as a timeline, its state at any version or time with the change from the previous
version, verification of one stream or the whole log, an anchor and the NDJSON export to
download. Read-only, over the same audit queries as the JSON routes (api/audit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream, Template
from tillroll.api.auth import AUDITOR, roles
from tillroll.api.console.session import HTML, principal_of
from tillroll.api.console.state_diff import diff
from tillroll.queries import audit as q

NDJSON = "application/x-ndjson"
TIMELINE = 1000
"""Events listed on the page (the export has them all)."""


def _stream_id(text: str) -> UUID | None:
    try:
        return UUID(text.strip())
    except ValueError:
        return None


def _state_context(store: q.AuditLog, stream_id: UUID, version: int) -> dict[str, Any]:
    now = q.state_at(store, stream_id, version=version)
    before = q.state_at(store, stream_id, version=version - 1).state if version > 1 else None
    event = q.history(store, stream_id, after_version=version - 1, limit=1)
    return {
        "stream_id": stream_id,
        "state": now,
        "event": event[0] if event else None,
        "rows": diff(before, now.state),
    }


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


class AuditConsole(Controller):
    path = "/audit"
    guards = [roles(AUDITOR)]
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def page(
        self,
        request: Request,
        store: NamedDependency[q.AuditLog],
        stream: Annotated[str, QueryParameter(max_length=100)] = "",
    ) -> Template:
        """The search form; with `stream`, that stream's timeline and its latest state."""
        context: dict[str, Any] = {
            "user": principal_of(request),
            "view": "audit",
            "query": stream,
            "events": [],
        }
        status = 200
        if stream:
            stream_id = _stream_id(stream)
            events = q.history(store, stream_id, limit=TIMELINE) if stream_id else []
            if stream_id is None:
                context["error"], status = f"{stream!r} is not a stream or order id (a UUID)", 400
            elif not events:
                context["error"], status = f"no stream or order with the id {stream_id}", 404
            else:
                context["events"] = events
                context.update(_state_context(store, stream_id, events[-1].version))
        return Template(
            media_type=HTML, template_name="audit.html", context=context, status_code=status
        )

    @get("/streams/{stream_id:uuid}/state", sync_to_thread=True)
    def state(
        self,
        stream_id: FromPath[UUID],
        store: NamedDependency[q.AuditLog],
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
        at: Annotated[str, QueryParameter(max_length=40)] = "",
    ) -> Template:
        """The aggregate at a version (or a date-time, UTC unless it says otherwise), with
        what changed since the version before."""
        if at:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise q.NotFound(f"{at!r} is not a date and time", field="at") from None
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            version = q.version_at(store, stream_id, when)
            if version == 0:
                raise q.NotFound(f"{stream_id} did not exist at {when.isoformat()}", field="at")
        if version is None:
            version = q.state_at(store, stream_id).version
        return Template(
            media_type=HTML,
            template_name="audit_state.html",
            context=_state_context(store, stream_id, version),
        )

    @get("/verify", sync_to_thread=True)
    def verify(
        self,
        store: NamedDependency[q.AuditLog],
        stream: Annotated[str, QueryParameter(max_length=100)] = "",
    ) -> Template:
        """Recompute the hash chains of the whole log (or one stream) and show the first
        broken link, if any."""
        stream_id = _stream_id(stream) if stream else None
        if stream and stream_id is None:
            raise q.NotFound(f"{stream!r} is not a stream id", field="stream")
        report = q.verify(store, stream_id=stream_id)
        return Template(
            media_type=HTML,
            template_name="audit_verify.html",
            context={"report": report, "stream_id": stream_id},
        )

    @get("/anchor", sync_to_thread=True)
    def anchor(self, store: NamedDependency[q.AuditLog]) -> Response[q.Anchor]:
        """The anchor of GET /v1/audit/anchor, as a file to keep elsewhere."""
        report = q.verify(store)
        anchor = q.Anchor(
            report.position, datetime.now(UTC), report.streams, report.events, report.head_digest
        )
        return Response(anchor, headers=_attachment(f"tillroll-anchor-{report.position}.json"))

    @get("/export", sync_to_thread=False)
    def export(self, store: NamedDependency[q.AuditLog]) -> Stream:
        """The whole log as NDJSON (one event a line, as GET /v1/audit/events streams it)."""
        encoder = msgspec.json.Encoder()

        def lines() -> Iterator[bytes]:
            for event in q.export(store, 0):
                yield encoder.encode(event) + b"\n"

        return Stream(lines(), media_type=NDJSON, headers=_attachment("tillroll-events.ndjson"))
