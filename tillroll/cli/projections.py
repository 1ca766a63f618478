"""`tillroll projections …`: list, status, rebuild, verify, retry, run."""

from __future__ import annotations

import argparse
import contextlib
import sys

from tillroll.bootstrap import Runtime
from tillroll.cli.console import CliError, Progress, open_runtime
from tillroll.infra.settings import Settings


def _status_table(runtime: Runtime, as_json: bool) -> None:
    import msgspec

    from tillroll.projections.engine.status import collect_status

    rows = collect_status(runtime.runner)
    if as_json:
        print(msgspec.json.encode(rows).decode())
        return
    print(f"log head: {runtime.store.head()}")
    print(
        f"{'name':<17} {'ver':>3} {'build':>5} {'target':<6} {'state':<12} {'position':>9}"
        f" {'lag':>7} {'lag s':>7} {'ev/s':>9}"
    )
    for r in rows:
        rate = f"{r.events_per_second:,.0f}" if r.events_per_second else "-"
        print(
            f"{r.name:<17} {r.version:>3} {r.build:>5} {r.target:<6} {r.state:<12}"
            f" {r.position:>9} {r.lag_events:>7} {r.lag_seconds:>7.1f} {rate:>9}"
        )
        if r.rebuild is not None:
            print(f"{'':<17} rebuilding into build {r.rebuild.build}: at {r.rebuild.position}")
        if r.last_error:
            print(f"{'':<17} stopped at position {r.error_position}: {r.last_error}")


def cmd_projections(settings: Settings, args: argparse.Namespace) -> int:
    from tillroll.projections.registry import PROJECTIONS, projection_class

    if args.action == "list":
        print(f"{'name':<17} {'version':>7}  {'target':<6} events")
        for cls in PROJECTIONS:
            print(
                f"{cls.NAME:<17} {cls.VERSION:>7}  {cls.TARGET:<6} {', '.join(cls.event_names())}"
            )
        return 0
    name = getattr(args, "name", None)
    if name is not None:
        try:
            projection_class(name)
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from None
    runtime = open_runtime(settings)
    try:
        runner = runtime.runner
        if args.action == "status":
            _status_table(runtime, args.json)
            return 0
        if args.action == "rebuild":
            progress = Progress(f"rebuild {name}")
            built = runner.rebuild(name, from_scratch=args.from_scratch, progress=progress)
            progress.close()
            print(f"{name}: build {built.build} is live at position {runner.position(built)}")
            return 0
        if args.action == "verify":
            from tillroll.projections.engine.verify import verify

            progress = Progress(f"verify {name}")
            result = verify(runner, name, progress=progress)
            progress.close()
            print(
                f"{name}: live build {result.live_build} at position {result.position},"
                f" {result.items} items; checksum live {result.checksum_live[:16]}"
                f" rebuilt {result.checksum_rebuilt[:16]}"
            )
            for diff in result.differences[: args.show]:
                print(f"  {diff.item}\n    live:    {diff.live}\n    rebuilt: {diff.rebuilt}")
            if not result.ok:
                raise CliError(f"{name} differs from a rebuild in {len(result.differences)} items")
            print(f"{name}: identical to a rebuild from the log")
            return 0
        if args.action == "retry":
            runner.retry(name)
            print(f"{name}: runners woken to retry", file=sys.stderr)
            return 0
        if args.action == "run":
            if args.once:
                runner.catch_up()
                print(f"caught up to position {runtime.store.head()}", file=sys.stderr)
                return 0
            print("following the event log (Ctrl-C to stop)", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                runner.run_forever()
            return 0
        raise CliError(f"unknown action {args.action}")
    finally:
        runtime.close()
