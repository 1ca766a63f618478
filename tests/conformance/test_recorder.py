"""The library's recorder cases (`eventsourcing/tests/persistence.py`) for tillroll's
recorder, subclassed as the library's `tests/persistence_tests/test_postgres.py` and
`test_noninterleaving_notification_ids.py` do for its own, including their retry checks."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar
from unittest import TestCase

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
)
from eventsourcing.utils import Environment

from tests.conformance.conftest import APPLICATION_RECORDER, PROCESS_RECORDER, Postgres

EVENTS_TABLE_NAME = "s" * 50 + "stored_events"  # the longest identifier, as the library's
TRACKING_TABLE_NAME = "n" * 42 + "notification_tracking"


class SetupPostgresDatastore(TestCase):
    pg: Postgres
    pool_size = 1
    enable_db_functions = False

    def setUp(self) -> None:
        """Each test in a schema of its own (the library's `WithSchema` variant: the
        embedded database has no `public` schema)."""
        super().setUp()
        self.table = EVENTS_TABLE_NAME
        self.datastore = self.pg.datastore(
            pool_size=self.pool_size, enable_db_functions=self.enable_db_functions
        )

    def tearDown(self) -> None:
        self.datastore.close()
        super().tearDown()

    def create_recorder(self, table_name: str | None = None) -> Any:
        recorder = APPLICATION_RECORDER(self.datastore, events_table_name=table_name or self.table)
        recorder.create_table()
        return recorder


class TestAggregateRecorder(SetupPostgresDatastore, AggregateRecorderTestCase):
    """tillroll's aggregate recorder is the library's own (snapshots); an application
    recorder, ours or the library's, returns ids where this case expects None."""

    def create_recorder(self, table_name: str | None = None) -> Any:
        recorder = PostgresAggregateRecorder(
            self.datastore, events_table_name=table_name or self.table
        )
        recorder.create_table()
        return recorder

    def test_retry_insert_events_after_closing_connection(self) -> None:
        recorder = self.create_recorder()
        self.assertTrue(self.datastore.pool._pool)
        self.pg.close_all_connections()
        self.assertFalse(self.datastore.pool._pool[0].closed)
        recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "topic1", b"state1")])


class TestApplicationRecorder(
    SetupPostgresDatastore, ApplicationRecorderTestCase[PostgresApplicationRecorder]
):
    def test_insert_subscribe(self) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(2, 2)
        super().optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(12, 12)
        super().test_concurrent_no_conflicts()

    def test_concurrent_throughput(self) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(10, 10)
        super().test_concurrent_throughput()

    def test_retry_select_notifications_after_closing_connection(self) -> None:
        recorder = self.create_recorder()
        recorder.insert_events([StoredEvent(self.new_originator_id(), 0, "topic1", b"state1")])
        self.pg.close_all_connections()
        before = id(self.datastore.pool._pool[0])
        recorder.select_notifications(start=1, limit=1)
        self.assertNotEqual(before, id(self.datastore.pool._pool[0]))

    def test_retry_max_notification_id_after_closing_connection(self) -> None:
        recorder = self.create_recorder()
        before = id(self.datastore.pool._pool[0])
        recorder.insert_events([StoredEvent(self.new_originator_id(), 0, "topic1", b"state1")])
        self.pg.close_all_connections()
        recorder.max_notification_id()
        self.assertNotEqual(before, id(self.datastore.pool._pool[0]))


class TestApplicationRecorderWithDbFunctions(TestApplicationRecorder):
    enable_db_functions = True


class TestNonInterleavingOneConnection(
    SetupPostgresDatastore, NonInterleavingNotificationIDsBaseCase
):
    insert_num = 100


class TestNonInterleavingTwoConnections(TestNonInterleavingOneConnection):
    """The library's case uses a pool of one, so its two writers never overlap; with two
    connections they race for real."""

    pool_size = 2


class TestProcessRecorder(SetupPostgresDatastore, ProcessRecorderTestCase):
    def create_recorder(self, table_name: str | None = None) -> ProcessRecorder:
        recorder = PROCESS_RECORDER(
            self.datastore,
            events_table_name=EVENTS_TABLE_NAME,
            tracking_table_name=TRACKING_TABLE_NAME,
        )
        recorder.create_table()
        return recorder

    def test_retry_max_tracking_id_after_closing_connection(self) -> None:
        recorder = self.create_recorder()
        event = StoredEvent(uuid.uuid4(), 0, "topic1", b"state1")
        recorder.insert_events([event], tracking=Tracking("upstream", 1))
        self.pg.close_all_connections()
        self.assertEqual(recorder.max_tracking_id("upstream"), 1)


class TestInfrastructureFactory(InfrastructureFactoryTestCase[PostgresFactory]):
    pg: Postgres
    env: ClassVar[Environment]

    def setUp(self) -> None:
        self.env = Environment("TestCase")
        for key, value in self.pg.env().items():
            self.env[key] = value
        super().setUp()

    def expected_factory_class(self) -> type[PostgresFactory]:
        return PostgresFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return PostgresAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return APPLICATION_RECORDER

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return PostgresTrackingRecorder

    class PostgresTrackingRecorderSubclass(PostgresTrackingRecorder):
        pass

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return self.PostgresTrackingRecorderSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return PROCESS_RECORDER


del AggregateRecorderTestCase
del ApplicationRecorderTestCase
del InfrastructureFactoryTestCase
del NonInterleavingNotificationIDsBaseCase
del ProcessRecorderTestCase
