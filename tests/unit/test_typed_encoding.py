"""The typed event encoding (infra/eventlog/encoding.py): new events are written as
compiled msgspec JSON, and old and new bytes alike decode to the same domain events."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from tillroll.aggregates.money import MAX_AMOUNT, Money
from tillroll.aggregates.ordering.order import Order
from tillroll.infra.eventlog.encoding import TYPED_PREFIX, TypedMapper
from tillroll.infra.eventstore import TillrollApplication, _event_meta

from tests.unit.test_stored_values import EVENTS, _event, _placed


@pytest.fixture(scope="module")
def mapper() -> TypedMapper:
    found = TillrollApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    assert isinstance(found, TypedMapper)
    return found


@pytest.fixture(scope="module")
def tagged(mapper: TypedMapper) -> Mapper:
    """What wrote the log before: the library's mapper over the same transcoder."""
    return Mapper(transcoder=mapper.transcoder)


def _shape(value: Any) -> Any:
    """A value with the type of everything in it, so that equal-but-different (a UUID and
    its string, 2 and 2.0) tells apart."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    fields_ = getattr(value, "__struct_fields__", None)
    if fields_ is not None:
        return (type(value), {f: _shape(getattr(value, f)) for f in fields_})
    return (type(value), value)


def _state(domain_event: Any) -> Any:
    return _shape(dict(vars(domain_event)))


IDS = [f"{a.__name__}.{e.__name__}" for a, e in EVENTS]


@pytest.mark.parametrize(("aggregate", "event_class"), EVENTS, ids=IDS)
def test_bytes_already_stored_decode_to_the_same_event(
    mapper: TypedMapper, tagged: Mapper, aggregate: type, event_class: type
) -> None:
    domain_event = _event(aggregate, event_class)
    old = tagged.to_stored_event(domain_event)

    assert _state(mapper.to_domain_event(old)) == _state(tagged.to_domain_event(old))


@pytest.mark.parametrize(("aggregate", "event_class"), EVENTS, ids=IDS)
def test_new_bytes_decode_exactly_as_old_bytes_do(
    mapper: TypedMapper, tagged: Mapper, aggregate: type, event_class: type
) -> None:
    domain_event = _event(aggregate, event_class)

    new = mapper.to_stored_event(domain_event)

    assert _state(mapper.to_domain_event(new)) == _state(
        tagged.to_domain_event(tagged.to_stored_event(domain_event))
    )


@pytest.mark.parametrize(("aggregate", "event_class"), EVENTS, ids=IDS)
def test_the_audit_sees_new_bytes_as_it_saw_old_ones(
    mapper: TypedMapper, tagged: Mapper, aggregate: type, event_class: type
) -> None:
    domain_event = _event(aggregate, event_class)
    token = _event_meta.set({"principal": "staff-7", "request_id": "r-1"})
    try:
        new, old = mapper.to_stored_event(domain_event), tagged.to_stored_event(domain_event)
    finally:
        _event_meta.reset(token)

    transcoder: Any = mapper.transcoder
    seen = mapper.decode_with_meta(new.topic, new.state) or transcoder.decode_with_meta(new.state)

    assert _shape(seen) == _shape(transcoder.decode_with_meta(old.state))


def test_every_event_class_of_the_domain_is_written_typed(mapper: TypedMapper) -> None:
    untyped = [IDS[i] for i, (_, e) in enumerate(EVENTS) if mapper.codec(e) is None]
    assert untyped == []


def test_a_placed_order_is_written_typed_and_reads_back(mapper: TypedMapper) -> None:
    stored = mapper.to_stored_event(_placed())

    assert stored.state.startswith(TYPED_PREFIX)
    assert b'"customer_id":"87654321-4321-8765-4321-876543218765"' in stored.state
    assert mapper.to_domain_event(stored) == _placed()


def test_a_field_holding_other_than_its_annotation_is_written_tagged(
    mapper: TypedMapper, tagged: Mapper
) -> None:
    placed = _placed()
    object.__setattr__(placed, "customer_id", "87654321-4321-8765-4321-876543218765")

    stored = mapper.to_stored_event(placed)

    assert stored.state == tagged.to_stored_event(placed).state
    assert mapper.to_domain_event(stored).customer_id == "87654321-4321-8765-4321-876543218765"


def test_a_field_holding_what_msgspec_cannot_encode_fails_as_before(
    mapper: TypedMapper, tagged: Mapper
) -> None:
    placed = _placed()
    object.__setattr__(placed, "customer_id", object())

    with pytest.raises(Exception) as typed_error:
        mapper.to_stored_event(placed)
    with pytest.raises(Exception) as tagged_error:
        tagged.to_stored_event(placed)
    assert type(typed_error.value) is type(tagged_error.value)


def test_a_value_outside_its_wire_constraints_is_written_and_read_back(
    mapper: TypedMapper,
) -> None:
    # The domain may compute amounts beyond what a request may carry (aggregates/money.py).
    placed = _placed()
    object.__setattr__(placed, "total", Money(MAX_AMOUNT * 10, "EUR"))

    assert mapper.to_domain_event(mapper.to_stored_event(placed)).total.amount == MAX_AMOUNT * 10


def test_typed_bytes_the_constraints_refuse_are_rebuilt_without_them(
    mapper: TypedMapper,
) -> None:
    state = mapper.to_stored_event(_placed()).state.replace(b"2650", str(MAX_AMOUNT * 10).encode())

    placed = mapper.to_domain_event(StoredEvent(uuid4(), 1, get_topic(Order.Placed), state))

    assert placed.total == Money(MAX_AMOUNT * 10, "EUR")
    assert isinstance(placed.customer_id, UUID) and placed.timestamp.tzinfo is UTC


def test_snapshots_stay_in_the_tagged_format(mapper: TypedMapper) -> None:
    from eventsourcing.domain import Snapshot

    assert mapper.codec(Snapshot) is None


class Parcel(Aggregate):
    @event("Registered")
    def __init__(self) -> None:
        self.grams = 0

    class Weighed(Aggregate.Event):
        class_version = 2
        amount: int
        unit: str
        weighed_by: UUID

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["amount"] = state.pop("grams")
            state["unit"] = "g"


def test_a_typed_event_of_an_older_class_version_is_upcast_and_typed(
    mapper: TypedMapper,
) -> None:
    # What a version-1 Weighed, written typed before the class gained 'unit', looks like.
    v1 = (
        b'{"_typed_":1,"timestamp":"2026-01-02T03:04:05.000001Z","grams":1500,'
        b'"weighed_by":"87654321-4321-8765-4321-876543218765"}'
    )
    stored = StoredEvent(uuid4(), 2, get_topic(Parcel.Weighed), v1)

    weighed = mapper.to_domain_event(stored)

    assert (weighed.amount, weighed.unit) == (1500, "g")
    assert weighed.weighed_by == UUID("87654321-4321-8765-4321-876543218765")
    assert weighed.timestamp == datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    assert {f.name for f in fields(Parcel.Weighed)} == set(vars(weighed))


def test_the_current_class_version_is_stored_where_the_library_stores_it(
    mapper: TypedMapper,
) -> None:
    weighed = Parcel.Weighed(  # type: ignore[call-arg]
        originator_id=uuid4(),
        originator_version=2,
        timestamp=datetime(2026, 1, 2, tzinfo=UTC),
        amount=2,
        unit="kg",
        weighed_by=uuid4(),
    )

    stored = mapper.to_stored_event(weighed)

    assert stored.state.startswith(TYPED_PREFIX) and b'"class_version":2' in stored.state
    assert mapper.to_domain_event(stored) == weighed


def test_the_audit_reads_a_typed_state_of_a_class_that_no_longer_resolves(
    mapper: TypedMapper,
) -> None:
    state = mapper.to_stored_event(_placed()).state

    seen = mapper.decode_with_meta("tillroll.gone:Placed", state)

    assert seen is not None and seen["customer_id"] == "87654321-4321-8765-4321-876543218765"


def test_a_damaged_typed_state_fails_as_a_value_error(mapper: TypedMapper) -> None:
    state = mapper.to_stored_event(_placed()).state[:-5]

    with pytest.raises(ValueError):
        mapper.decode_with_meta(get_topic(Order.Placed), state)
    with pytest.raises(ValueError):
        mapper.to_domain_event(StoredEvent(uuid4(), 1, get_topic(Order.Placed), state))
