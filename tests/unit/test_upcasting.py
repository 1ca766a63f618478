"""Old events stay readable: an event whose shape changed is upcast when it is read."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from tillroll.infra.eventstore import TillrollApplication


class Parcel(Aggregate):
    """A stand-in for a real aggregate whose Weighed event gained a 'unit' in version 2."""

    @event("Registered")
    def __init__(self) -> None:
        self.grams = 0
        self.unit = ""

    class Weighed(Aggregate.Event):
        class_version = 2
        amount: int
        unit: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            # Version 1 stored 'grams' only; version 2 stores an amount and its unit.
            state["amount"] = state.pop("grams")
            state["unit"] = "g"

        def apply(self, aggregate: Parcel) -> None:
            aggregate.grams = self.amount if self.unit == "g" else self.amount * 1000
            aggregate.unit = self.unit


def _mapper() -> Mapper:
    app = TillrollApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return app.mapper


def test_an_event_stored_in_its_old_shape_is_upcast_on_read() -> None:
    mapper = _mapper()
    parcel_id = uuid4()
    old_state = mapper.transcoder.encode(
        {"timestamp": datetime(2025, 1, 2, tzinfo=UTC), "grams": 1500}  # no class_version: v1
    )
    stored = StoredEvent(parcel_id, 2, get_topic(Parcel.Weighed), old_state)

    weighed = mapper.to_domain_event(stored)

    assert (weighed.amount, weighed.unit) == (1500, "g")


def test_an_aggregate_replays_old_and_new_shapes_alike() -> None:
    mapper = _mapper()
    parcel = Parcel()
    registered = parcel.collect_events()[0]
    old = StoredEvent(
        parcel.id,
        2,
        get_topic(Parcel.Weighed),
        mapper.transcoder.encode({"timestamp": datetime(2025, 1, 2, tzinfo=UTC), "grams": 700}),
    )
    new = mapper.to_stored_event(
        Parcel.Weighed(
            originator_id=parcel.id,
            originator_version=3,
            timestamp=datetime(2026, 1, 2, tzinfo=UTC),
            amount=2,
            unit="kg",
        )
    )
    replayed = None
    for stored in (mapper.to_stored_event(registered), old, new):
        replayed = mapper.to_domain_event(stored).mutate(replayed)
    assert replayed is not None and (replayed.grams, replayed.unit, replayed.version) == (
        2000,
        "kg",
        3,
    )
    assert b'"class_version":2' in new.state
