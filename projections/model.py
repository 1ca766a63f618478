"""What a projection is: a name, a version, a target store, the events it handles, its writes.

A projection is mostly data. Batching, tracking and retries live once, in the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

POSITIONS_TABLE = "projection_positions"


class Projection:
    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1
    TARGET: ClassVar[str]
    # event class -> name of the method that handles it
    HANDLES: ClassVar[dict[type, str]] = {}

    @property
    def key(self) -> str:
        """Identifies this build of the read model (name and version)."""
        return f"{self.NAME}:v{self.VERSION}"

    @classmethod
    def topics(cls) -> list[str]:
        return [get_topic(event_class) for event_class in cls.HANDLES]

    def handler(self, event: Any) -> Callable[..., None] | None:
        name = self.HANDLES.get(type(event))
        return None if name is None else getattr(self, name)


class SqlProjection(Projection):
    """Writes rows in PostgreSQL tables that live in the read-model schema."""

    TARGET = "sql"
    TABLE: ClassVar[str]
    # DDL; "{table}" stands for the versioned table name.
    DDL: ClassVar[list[str]] = []

    @property
    def table(self) -> str:
        return table_name(self.TABLE, self.VERSION)

    def ddl(self) -> list[str]:
        return [statement.format(table=self.table) for statement in self.DDL]


class RedisProjection(Projection):
    """Writes Redis keys under '<prefix><name>:v<version>:'."""

    TARGET = "redis"

    def __init__(self, prefix: str = "tr:") -> None:
        self.prefix = prefix

    @property
    def namespace(self) -> str:
        return redis_namespace(self.prefix, self.NAME, self.VERSION)

    @property
    def position_key(self) -> str:
        return f"{self.namespace}position"


def table_name(table: str, version: int) -> str:
    return f"{table}_v{version}"


def redis_namespace(prefix: str, name: str, version: int) -> str:
    return f"{prefix}{name}:v{version}:"
