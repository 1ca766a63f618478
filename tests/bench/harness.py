"""What every benchmark starts with: real servers (embedded unless URLs are given) and
settings in schemas and a key prefix of their own, so runs never collide."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from tillroll.infra.embedded import start_embedded
from tillroll.infra.settings import Settings

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "BENCHMARKS.md"


@contextmanager
def bench_settings(
    name: str, database_url: str | None = None, redis_url: str | None = None, **overrides: Any
) -> Iterator[Settings]:
    data_dir = Path(tempfile.mkdtemp(prefix="tillroll-bench-"))
    servers = None
    if not (database_url and redis_url):
        servers = start_embedded(data_dir, need_postgres=not database_url, need_redis=not redis_url)
    ns = f"bench_{name}_{int(time.time())}"
    settings = Settings(
        database_url=database_url or servers.database_url,  # type: ignore[union-attr]
        redis_url=redis_url or servers.redis_url,  # type: ignore[union-attr]
        data_dir=data_dir,
        event_schema=f"{ns}_events",
        read_schema=f"{ns}_read",
        redis_prefix=f"{ns}:",
    )
    try:
        yield replace(settings, **overrides)
    finally:
        if servers is not None:
            servers.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def append_to_section(heading: str, text: str, path: Path = BENCHMARKS) -> None:
    """Add `text` at the end of the `## ` section called `heading`; the section is created at
    the end of the file if there is none yet."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        path.write_text("".join(lines).rstrip("\n") + f"\n\n{heading}\n\n{text.rstrip()}\n")
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    before = "".join(lines[:end]).rstrip("\n") + f"\n\n{text.rstrip()}\n"
    after = "".join(lines[end:])
    path.write_text(before + (f"\n{after}" if after else ""))
