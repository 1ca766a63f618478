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

from infra.embedded import start_embedded
from infra.settings import Settings


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
