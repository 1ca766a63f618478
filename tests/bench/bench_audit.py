"""Audit export and verification speed, and the export's memory, on a seeded log.

    python tests/bench/bench_audit.py --events 100000

Export runs `tillroll audit export` in a child process (NDJSON to a file) and reads its peak
RSS; verify recomputes every hash chain. The raw log read rate is measured in the same run.
Not part of the test suite; appends its table to docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import harness
from tillroll.queries import audit


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with harness.bench_runtime("audit", args) as rt:
        harness.seed_log(rt, args.events)
        head = rt.store.head()
        raw = harness.read_rate(rt, decode=False)
        out = Path(rt.settings.data_dir) / "events.ndjson"
        started = time.perf_counter()
        with out.open("wb") as fh:
            subprocess.run(
                harness.tillroll_cli("audit", "export"),
                env=harness.clean_env(rt.settings),
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
        pg_version = harness.server_version(rt.settings.database_url or "")
    command = f"python tests/bench/bench_audit.py --events {args.events}"
    table = "\n".join(
        [
            harness.heading("Audit export and verify"),
            "",
            f"`{command}` — {harness.machine()}, PostgreSQL {pg_version},"
            f" log of {head:,} events in {report.streams:,} streams.",
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
    harness.publish("## Audit: export and verify", table, not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
