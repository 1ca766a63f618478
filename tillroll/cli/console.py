"""What every `tillroll` command shares: opening the runtime, one-line errors, progress."""

from __future__ import annotations

import logging
import sys
import time

from tillroll.bootstrap import Runtime
from tillroll.infra.settings import Settings

log = logging.getLogger("tillroll")


class CliError(Exception):
    """A one-line reason; the process exits non-zero with it."""


def open_runtime(settings: Settings) -> Runtime:
    runtime = Runtime.open(settings)
    if runtime.servers.started or settings.database_url is None:
        print(f"embedded servers under {settings.data_dir.resolve()}", file=sys.stderr)
    return runtime


def seed_if_asked(runtime: Runtime) -> None:
    from tillroll.seed import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo

    if runtime.settings.seed_demo and seed_demo(runtime.store, runtime.credentials):
        print("seeded demo data", file=sys.stderr)
    if runtime.settings.seed_demo:
        print(f"demo accounts (password: {DEMO_PASSWORD}):", file=sys.stderr)
        for email, _, role in DEMO_ACCOUNTS:
            print(f"  {role:<9} {email}", file=sys.stderr)


class Progress:
    """A one-line progress bar on a terminal; a line a second elsewhere."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, projection: object, done: int, total: int, rate: float) -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self.last < (0.1 if self.tty else 1.0):
            return
        self.last = now
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        eta = f"{(total - done) / rate:,.0f}s" if rate > 0 and not finished else "-"
        line = (
            f"{self.label} [{bar:<30}] {share:6.1%}  {done:,}/{total:,} events"
            f"  {rate:,.0f} ev/s  ETA {eta}"
        )
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)
