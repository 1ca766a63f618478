"""What every part of the engine works on: the log, the read stores, the read models it keeps
and how large a batch it reads. One instance is shared, so a change (a test's smaller rebuild
batch, a deploy's new class) is seen by every part at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from tillroll.projections.engine.log import EventLog
from tillroll.projections.engine.model import Projection

DEFAULT_BATCH = 500
REBUILD_BATCH = 5000
RETIRE_AFTER = 60.0


@dataclass
class Stores:
    log: EventLog
    sql_pool: Any
    redis: redis.Redis
    classes: dict[str, type[Projection]]
    prefix: str = "tr:"
    batch_size: int = DEFAULT_BATCH
    rebuild_batch: int = REBUILD_BATCH
    retire_after: float = RETIRE_AFTER
