"""The library's projection cases (`eventsourcing/tests/projection.py`) following tillroll's
recorder, as the library's `tests/projection_tests/test_projection_with_postgres.py` and
`test_event_sourced_projection_with_postgres.py` run them."""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.tests.projection import (
    AggregateEventCountersProjectionTestCase,
    EventCountersView,
    EventCountersViewTestCase,
    EventSourcedProjectionTestCase,
)
from psycopg.sql import SQL, Identifier

from tests.conformance.conftest import Postgres


class PostgresEventCounters(PostgresTrackingRecorder, EventCountersView):
    """The library's example view: counters and tracking in one transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = SQL("{}.{}").format(
            Identifier(self.datastore.schema),
            Identifier(self.tracking_table_name.replace("_tracking", "")),
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (counter_name text PRIMARY KEY, counter bigint)"
            ).format(table)
        )
        self._select = SQL("SELECT counter FROM {} WHERE counter_name = %s").format(table)
        self._incr = SQL(
            "INSERT INTO {0} VALUES (%s, 1) ON CONFLICT (counter_name)"
            " DO UPDATE SET counter = {0}.counter + 1"
        ).format(table)

    def get_created_event_counter(self) -> int:
        return self._counter("CREATED_EVENTS")

    def get_subsequent_event_counter(self) -> int:
        return self._counter("SUBSEQUENT_EVENTS")

    def incr_created_event_counter(self, tracking: Tracking) -> None:
        self._count("CREATED_EVENTS", tracking)

    def incr_subsequent_event_counter(self, tracking: Tracking) -> None:
        self._count("SUBSEQUENT_EVENTS", tracking)

    def _counter(self, name: str) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select, (name,))
            row = curs.fetchone()
            return row["counter"] if row else 0

    def _count(self, name: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            curs.execute(self._incr, (name,))


class TestPostgresEventCounters(EventCountersViewTestCase):
    pg: Postgres

    def setUp(self) -> None:
        self.factory = InfrastructureFactory[EventCountersView].construct(self.pg.env())

    def tearDown(self) -> None:
        self.factory.close()

    def construct_event_counters_view(self) -> EventCountersView:
        return self.factory.tracking_recorder(PostgresEventCounters)


class TestAggregateEventCountersProjectionWithPostgres(AggregateEventCountersProjectionTestCase):
    pg: Postgres
    view_class = PostgresEventCounters
    env: ClassVar[dict[str, str]] = {}

    def setUp(self) -> None:
        self.env = {**self.pg.env("APPLICATION_"), **self.pg.env("EVENTCOUNTERS_")}
        super().setUp()


class TestEventSourcedProjectionWithPostgres(EventSourcedProjectionTestCase):
    pg: Postgres
    env: ClassVar[dict[str, str]] = {}

    def setUp(self) -> None:
        self.env = self.pg.env()
        super().setUp()


del AggregateEventCountersProjectionTestCase
del EventCountersViewTestCase
del EventSourcedProjectionTestCase
