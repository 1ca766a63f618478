"""How a batch of read-model writes reaches its store in few round trips: SQL statements
grouped into executemany and COPY, counter updates merged per key, Redis commands recorded for
one MULTI/EXEC pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any, NamedTuple

import psycopg
from psycopg.sql import SQL, Composed, Identifier


class Copy(NamedTuple):
    table: str
    columns: tuple[str, ...]

    @property
    def statement(self) -> Composed:
        return SQL("COPY {} ({}) FROM STDIN").format(
            Identifier(self.table), SQL(", ").join(map(Identifier, self.columns))
        )


class SqlBatch:
    """Collects a batch's statements and sends runs of the same statement with executemany.

    Counter updates given to `increment` are summed per key over the whole batch and sent
    after the other statements: use it only for columns that nothing but increments writes
    (the row itself may be inserted earlier in the same batch)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str | Copy, Sequence[Any]]] = []
        self.increments: dict[str, dict[tuple[Any, ...], list[int]]] = {}

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        self.statements.append((sql, params))

    def insert(self, table: str, columns: tuple[str, ...], row: Sequence[Any]) -> None:
        """A plain INSERT; runs of them into one table are sent with COPY."""
        self.statements.append((Copy(table, columns), row))

    def increment(self, sql: str, key: tuple[Any, ...], deltas: Sequence[int]) -> None:
        """`sql` takes the deltas, then the key, as parameters."""
        per_key = self.increments.setdefault(sql, {})
        total = per_key.get(key)
        if total is None:
            per_key[key] = list(deltas)
        else:
            for i, delta in enumerate(deltas):
                total[i] += delta

    def flush(self, cur: psycopg.Cursor[Any]) -> None:
        for sql, run in groupby(self.statements, key=lambda statement: statement[0]):
            if isinstance(sql, Copy):
                with cur.copy(sql.statement) as copy:
                    for _, row in run:
                        copy.write_row(row)
            else:
                cur.executemany(sql, [params for _, params in run])  # type: ignore[arg-type]
        for sql, per_key in self.increments.items():
            rows = [(*deltas, *key) for key, deltas in per_key.items() if any(deltas)]
            if rows:
                cur.executemany(sql, rows)  # type: ignore[arg-type]
        self.statements.clear()
        self.increments.clear()


class RedisBatch:
    """Records a batch's Redis commands, to be queued later on a MULTI pipeline (a build whose
    handler raises has then queued nothing); HINCRBYs are summed per key and field over the
    batch and sent last (for fields nothing but increments writes)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.increments: dict[tuple[str, str], int] = {}

    def hincrby(self, key: str, field: str, amount: int) -> None:
        self.increments[(key, field)] = self.increments.get((key, field), 0) + amount

    def __getattr__(self, command: str) -> Any:
        if command.startswith("_"):
            raise AttributeError(command)

        def record(*args: Any, **kwargs: Any) -> None:
            self.commands.append((command, args, kwargs))

        return record

    def replay(self, pipe: Any) -> None:
        """Queue the recorded commands on `pipe` (in MULTI mode)."""
        for command, args, kwargs in self.commands:
            getattr(pipe, command)(*args, **kwargs)
        for (key, field), amount in self.increments.items():
            if amount:
                pipe.hincrby(key, field, amount)
