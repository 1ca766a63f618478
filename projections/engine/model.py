"""What a projection is: a name, a version, a target store, the events it handles, its writes.

A projection is mostly data. Batching, tracking and retries live once, in the engine. An
instance is bound to one *build*: a physical copy of the read model (its own tables or Redis
key prefix), so a rebuild can write beside the live copy and replace it in one switch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.utils import get_topic


class Projection:
    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1
    TARGET: ClassVar[str]
    # event class -> name of the method that handles it
    HANDLES: ClassVar[dict[type, str]] = {}

    def __init__(self, build: int = 1, prefix: str = "tr:") -> None:
        self.build = build
        self.prefix = prefix

    @property
    def key(self) -> str:
        """Identifies this build of the read model."""
        return f"{self.NAME}:b{self.build}"

    @classmethod
    def topics(cls) -> list[str]:
        return [get_topic(event_class) for event_class in cls.HANDLES]

    @classmethod
    def event_names(cls) -> list[str]:
        return sorted(event_class.__qualname__ for event_class in cls.HANDLES)

    def handler(self, event: Any) -> Callable[..., None] | None:
        name = self.HANDLES.get(type(event))
        return None if name is None else getattr(self, name)


class SqlProjection(Projection):
    """Writes rows in PostgreSQL tables that live in the read-model schema."""

    TARGET = "sql"
    TABLE: ClassVar[str]
    # DDL; "{table}" stands for this build's table name.
    DDL: ClassVar[list[str]] = []

    @property
    def table(self) -> str:
        return f"{self.TABLE}_b{self.build}"

    @property
    def tables(self) -> list[str]:
        return [self.table]

    def ddl(self) -> list[str]:
        return [statement.format(table=self.table) for statement in self.DDL]


class RedisProjection(Projection):
    """Writes Redis keys under '<prefix><name>:b<build>:'."""

    TARGET = "redis"

    @property
    def namespace(self) -> str:
        return f"{self.prefix}{self.NAME}:b{self.build}:"

    @property
    def position_key(self) -> str:
        return f"{self.namespace}position"
