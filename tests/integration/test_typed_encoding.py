"""A log written partly before the typed encoding and partly after: aggregates load, the
audit reads both kinds alike, and the hash chain verifies over the stored bytes as stored."""

from __future__ import annotations

from eventsourcing.persistence import Mapper
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.money import Money
from tillroll.infra.eventlog.encoding import TYPED_PREFIX
from tillroll.queries import audit

from tillroll.bootstrap import Runtime


def test_old_and_new_events_load_audit_and_verify_together(runtime: Runtime) -> None:
    store = runtime.store
    tagged = Mapper(transcoder=store.transcoder)
    product = Product.create("MUG-OLD", "Mug", Money(1200, "EUR"))
    product.change_price(Money(1300, "EUR"))
    store.recorder.insert_events([tagged.to_stored_event(e) for e in product.collect_events()])

    loaded = store.get(product.id)
    loaded.change_price(Money(1400, "EUR"))
    store.save(loaded, meta={"principal": "staff-7"})

    states = [bytes(r[4]) for r in store.stream_rows(product.id, 0, 10)]
    assert [s.startswith(TYPED_PREFIX) for s in states] == [False, False, True]
    assert store.get(product.id).price == Money(1400, "EUR")
    events = audit.history(store, product.id)
    assert [e.data["price"] for e in events[1:]] == [
        {"amount": 1300, "currency": "EUR"},
        {"amount": 1400, "currency": "EUR"},
    ]
    assert all(e.time is not None and e.time.tzinfo is not None for e in events)
    assert events[2].metadata == {"principal": "staff-7"}
    assert "_typed_" not in events[2].data
    report = audit.verify(store)
    assert report.ok and report.events >= 3
