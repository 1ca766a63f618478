"""The library's application cases (`eventsourcing/tests/application.py`) on tillroll's
recorder, as the library's `tests/application_tests/test_application_with_postgres.py`
runs them (settings from the environment: tests/conformance/conftest.py sets them)."""

from __future__ import annotations

import os
from unittest import TestCase

import pytest
from eventsourcing.tests.application import ApplicationTestCase, ExampleApplicationTestCase

# The project ignores the library's deprecation warnings; test_application_log counts one.
pytestmark = pytest.mark.filterwarnings("always::DeprecationWarning")


class WithPostgres(TestCase):
    expected_factory_topic = "eventsourcing.postgres:PostgresFactory"
    db_functions = "n"

    def setUp(self) -> None:
        super().setUp()
        os.environ["POSTGRES_ENABLE_DB_FUNCTIONS"] = self.db_functions


class TestApplicationWithPostgres(WithPostgres, ApplicationTestCase):
    pass


class TestApplicationWithPostgresEnableFunctions(WithPostgres, ApplicationTestCase):
    db_functions = "y"


class TestExampleApplicationWithPostgres(WithPostgres, ExampleApplicationTestCase):
    pass


del ApplicationTestCase
del ExampleApplicationTestCase
del WithPostgres
