"""Audit export and verification speed, and the export's memory, on a seeded log.

    python tests/bench/bench_audit.py --events 100000

Export runs `tillroll audit export` in a child process (NDJSON to a file) and reads its peak
RSS; verify recomputes every hash chain. The raw log read rate is measured in the same run.
Not part of the test suite; appends its table to docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tillroll.queries import audit  # noqa: E402

from tests.bench.bench_rebuild import read_rate, seed  # noqa: E402
from tests.bench.harness import append_to_section, bench_settings  # noqa: E402
from tillroll.bootstrap import Runtime  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    stack = contextlib.ExitStack()
    settings = stack.enter_context(
        bench_settings(
            "audit", getattr(args, "database_url", None), getattr(args, "redis_url", None)
        )
    )
    rt = Runtime.open(settings)
    try:
        seed(rt, args.events)
        head = rt.store.head()
        raw = read_rate(rt, decode=False)
        out = Path(settings.data_dir) / "events.ndjson"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
        env.update(settings.as_env(), PYTHONPATH=str(ROOT), TILLROLL_LOG_LEVEL="WARNING")
        started = time.perf_counter()
        with out.open("wb") as fh:
            subprocess.run(
                [sys.executable, "-m", "tillroll.cli", "audit", "export"],
                env=env,
                cwd=ROOT,
                stdout=fh,
                stderr=subprocess.DEVNULL,
                check=True,
            )
        export_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = sum(1 for _ in out.open("rb"))
        size_mb = out.stat().st_size / 1e6
        started = time.perf_counter()
        report = audit.verify(rt.store)
        verify_s = time.perf_counter() - started
        assert report.ok and report.events == head == lines
        with rt.store.connection() as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()["server_version"]
    finally:
        rt.close()
        stack.close()
    command = f"python tests/bench/bench_audit.py --events {args.events}"
    table = "\n".join(
        [
            f"### Audit export and verify — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"`{command}` — {os.cpu_count()} cores, Python {platform.python_version()},"
            f" PostgreSQL {pg_version}, log of {head:,} events in {report.streams:,} streams.",
            "",
            "| operation | seconds | events/s | ÷ raw log read | notes |",
            "| --- | ---: | ---: | ---: | --- |",
            f"| *raw log read (pages of 5,000)* | {head / raw:.1f} | {raw:,.0f} | 1.00 | |",
            f"| `tillroll audit export` (NDJSON) | {export_s:.1f} | {head / export_s:,.0f} |"
            f" {head / export_s / raw:.2f} | {size_mb:,.0f} MB written; peak RSS of the process"
            f" {peak_mb:,.0f} MB (includes start-up) |",
            f"| `audit verify` (every chain) | {verify_s:.1f} | {head / verify_s:,.0f} |"
            f" {head / verify_s / raw:.2f} | streamed with a server-side cursor |",
            "",
        ]
    )
    print(table)
    if not args.no_write:
        append_to_section("## Audit: export and verify", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
