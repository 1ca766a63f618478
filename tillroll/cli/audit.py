"""`tillroll audit …`: history, state, replay, export, verify, anchor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tillroll.cli.console import CliError, Progress, open_runtime
from tillroll.infra.settings import Settings


def _stream(value: str) -> Any:
    from uuid import UUID

    try:
        return UUID(value)
    except ValueError:
        raise CliError(f"not a stream id (a UUID): {value!r}") from None


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    import msgspec

    from tillroll.queries import audit

    encode = msgspec.json.Encoder().encode
    runtime = open_runtime(settings)
    try:
        store = runtime.store
        if args.action == "history":
            events = audit.history(store, _stream(args.id), limit=10**9)
            if not events:
                raise CliError(f"stream {args.id} not found")
            for e in events:
                who = e.metadata.get("principal", "?")
                when = e.time.isoformat() if e.time else "?"
                print(f"v{e.version:<4} {when}  {e.type:<32} by {who}  @{e.position}")
                print(f"      {encode(e.data).decode()}")
            return 0
        if args.action == "state":
            at = _parse_time(args.at) if args.at else None
            state = audit.state_at(store, _stream(args.id), version=args.version, at=at)
            print(encode(state).decode())
            return 0
        if args.action == "replay":
            for event, state in audit.replay(store, _stream(args.id)):
                print(f"v{event.version} {event.type}  {encode(event.data).decode()}")
                print(f"   -> {encode(state).decode()}")
            return 0
        if args.action == "export":
            total = store.count_after(args.after)
            progress = Progress("export")
            out = sys.stdout.buffer
            count = 0
            for event in audit.export(store, args.after):
                out.write(encode(event) + b"\n")
                count += 1
                if count % 1000 == 0:
                    progress(None, count, max(count, total), 0.0)
            out.flush()
            progress(None, count, count, 0.0)
            progress.close()
            print(f"exported {count} events", file=sys.stderr)
            return 0
        if args.action == "anchor":
            report = audit.verify(store)
            from datetime import UTC, datetime

            anchor = audit.Anchor(
                report.position,
                datetime.now(UTC),
                report.streams,
                report.events,
                report.head_digest,
            )
            print(encode(anchor).decode())
            return 0
        if args.action == "verify":
            anchor = None
            if args.anchor:
                anchor = msgspec.json.decode(Path(args.anchor).read_bytes(), type=audit.Anchor)
            stream = _stream(args.id) if args.id else None
            progress = Progress("verify")
            report = audit.verify(
                store,
                stream_id=stream,
                up_to=anchor.position if anchor else None,
                progress=lambda done, _: progress(None, done, max(done, store.head()), 0.0),
            )
            progress.close()
            counted = f"{report.events} events in {report.streams} streams"
            print(f"{counted} up to position {report.position}")
            if report.first_break is not None:
                b = report.first_break
                raise CliError(
                    f"broken chain: stream {b.stream_id} version {b.version}"
                    f" (position {b.position}): {b.problem}; {report.breaks} broken links in all"
                )
            if anchor is not None and report.head_digest != anchor.head_digest:
                raise CliError(
                    f"history up to position {anchor.position} differs from the anchor taken"
                    f" {anchor.taken_at.isoformat()}: it was rewritten"
                )
            print("every chain is intact" + (" and matches the anchor" if anchor else ""))
            return 0
        raise CliError(f"unknown action {args.action}")
    finally:
        runtime.close()


def _parse_time(value: str) -> Any:
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"not an ISO 8601 time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
