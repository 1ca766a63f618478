"""The command handlers, run through the bus (commands.bus.dispatch) on the in-memory event
store: the same domain, the same application and transcoder, no database."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from tillroll.aggregates.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    Conflict,
    IllegalTransition,
    InsufficientStock,
    InvalidValue,
    NotFound,
    PriceMismatch,
)
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine
from tillroll.commands import bus
from tillroll.commands.bus import IdempotencyKeyReused, dispatch
from tillroll.commands.catalog import ChangePrice, CreateProduct
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.inventory import AdjustStock, ReceiveStock
from tillroll.commands.ordering import CancelOrder, PlaceOrder
from tillroll.infra.memory import MemoryEventStore

ADDRESS = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
STAFF = Principal(subject="staff-1", role="staff")


def eur(cents: int) -> Money:
    return Money(cents, "EUR")


def customer() -> Principal:
    return Principal(subject=str(uuid4()), role="customer")


@pytest.fixture
def store() -> MemoryEventStore:
    return MemoryEventStore()


def as_staff(store: MemoryEventStore) -> CommandContext:
    return CommandContext(store, principal=STAFF)


def stock(store: MemoryEventStore, sku: str) -> InventoryItem:
    item: InventoryItem = store.get(InventoryItem.create_id(sku))
    return item


def shelve(store: MemoryEventStore, sku: str, cents: int, on_hand: int) -> None:
    """A product with stock on the shelf."""
    dispatch(CreateProduct(sku, sku.title(), eur(cents)), as_staff(store))
    dispatch(ReceiveStock(sku, on_hand), as_staff(store))


def place(store: MemoryEventStore, who: Principal, *lines: tuple[str, int, int]) -> Any:
    order = PlaceOrder(who.customer_id, [OrderLine(s, q, eur(c)) for s, q, c in lines], ADDRESS)
    return dispatch(order, CommandContext(store, principal=who))


# -- catalog ------------------------------------------------------------------------------
def test_create_product_saves_it_and_answers_with_its_version_and_position(
    store: MemoryEventStore,
) -> None:
    result = dispatch(CreateProduct("MUG", "Mug", eur(1200), tags=["b", "a"]), as_staff(store))

    assert (result.sku, result.version, result.price) == ("MUG", 1, eur(1200))
    assert result.position == store.head() == 1
    assert store.get(UUID(result.product_id)).tags == ["a", "b"]


def test_create_product_raises_already_exists_when_the_sku_is_taken(
    store: MemoryEventStore,
) -> None:
    dispatch(CreateProduct("MUG", "Mug", eur(1200)), as_staff(store))
    with pytest.raises(AlreadyExists) as err:
        dispatch(CreateProduct("MUG", "Other mug", eur(900)), as_staff(store))
    assert err.value.field == "sku" and store.head() == 1


def test_change_price_records_the_new_price(store: MemoryEventStore) -> None:
    dispatch(CreateProduct("MUG", "Mug", eur(1200)), as_staff(store))

    result = dispatch(ChangePrice("MUG", eur(1500)), as_staff(store))

    assert (result.version, result.price, result.position) == (2, eur(1500), 2)


def test_change_price_raises_not_found_on_sku_for_an_unknown_product(
    store: MemoryEventStore,
) -> None:
    with pytest.raises(NotFound) as err:
        dispatch(ChangePrice("NOPE", eur(1500)), as_staff(store))
    assert err.value.field == "sku"


# -- inventory ----------------------------------------------------------------------------
def test_receive_stock_opens_the_stock_item_of_an_existing_product(
    store: MemoryEventStore,
) -> None:
    dispatch(CreateProduct("BOLT", "Bolt", eur(10)), as_staff(store))

    first = dispatch(ReceiveStock("BOLT", 12, "delivery"), as_staff(store))
    second = dispatch(ReceiveStock("BOLT", 3), as_staff(store))

    assert (first.on_hand, first.version) == (12, 2)
    assert (second.on_hand, second.available, second.version) == (15, 15, 3)


def test_receive_stock_raises_not_found_when_the_product_does_not_exist(
    store: MemoryEventStore,
) -> None:
    with pytest.raises(NotFound) as err:
        dispatch(ReceiveStock("NOPE", 1), as_staff(store))
    assert err.value.field == "sku" and store.head() == 0


def test_adjust_stock_corrects_on_hand(store: MemoryEventStore) -> None:
    shelve(store, "BOLT", 10, 12)

    result = dispatch(AdjustStock("BOLT", -2, "breakage"), as_staff(store))

    assert (result.on_hand, result.available) == (10, 10)


def test_adjust_stock_raises_conflict_when_on_hand_would_fall_below_reserved(
    store: MemoryEventStore,
) -> None:
    shelve(store, "BOLT", 10, 5)
    place(store, customer(), ("BOLT", 4, 10))

    with pytest.raises(Conflict) as err:
        dispatch(AdjustStock("BOLT", -2, "recount"), as_staff(store))

    assert err.value.field == "delta"
    assert (stock(store, "BOLT").on_hand, stock(store, "BOLT").reserved) == (5, 4)


# -- ordering -----------------------------------------------------------------------------
def test_place_order_reserves_every_line_in_one_save(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    shelve(store, "PEN", 250, 10)
    head = store.head()

    result = place(store, customer(), ("MUG", 2, 1200), ("PEN", 1, 250))

    assert (result.status, result.total, result.version) == ("placed", eur(2650), 1)
    assert (stock(store, "MUG").reserved, stock(store, "PEN").reserved) == (2, 1)
    assert result.position == store.head() == head + 3  # the order and two reservations


def test_place_order_reserves_nothing_when_one_line_is_short(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    shelve(store, "PEN", 250, 1)
    head = store.head()

    with pytest.raises(InsufficientStock) as err:
        place(store, customer(), ("MUG", 2, 1200), ("PEN", 3, 250))

    assert (err.value.sku, err.value.requested, err.value.available) == ("PEN", 3, 1)
    assert store.head() == head
    assert (stock(store, "MUG").reserved, stock(store, "PEN").reserved) == (0, 0)


def test_place_order_raises_insufficient_stock_when_no_stock_was_ever_received(
    store: MemoryEventStore,
) -> None:
    dispatch(CreateProduct("MUG", "Mug", eur(1200)), as_staff(store))
    with pytest.raises(InsufficientStock) as err:
        place(store, customer(), ("MUG", 1, 1200))
    assert (err.value.sku, err.value.available, err.value.field) == ("MUG", 0, "sku")


def test_place_order_raises_price_mismatch_naming_the_line_and_the_price(
    store: MemoryEventStore,
) -> None:
    shelve(store, "MUG", 1200, 5)
    shelve(store, "PEN", 250, 5)
    with pytest.raises(PriceMismatch) as err:
        place(store, customer(), ("MUG", 1, 1200), ("PEN", 1, 199))
    assert err.value.field == "lines[1].unit_price"
    assert err.value.extra["expected"] == {"amount": 250, "currency": "EUR"}
    assert stock(store, "MUG").reserved == 0


def test_place_order_raises_invalid_value_for_an_unknown_sku(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    with pytest.raises(InvalidValue) as err:
        place(store, customer(), ("MUG", 1, 1200), ("GHOST", 1, 100))
    assert err.value.field == "lines[1].sku"


def test_cancel_order_releases_its_stock(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    shelve(store, "PEN", 250, 5)
    buyer = customer()
    placed = place(store, buyer, ("MUG", 2, 1200), ("PEN", 1, 250))

    result = dispatch(
        CancelOrder(UUID(placed.order_id), "changed mind"), CommandContext(store, principal=buyer)
    )

    assert (result.status, result.version) == ("cancelled", 2)
    assert (stock(store, "MUG").reserved, stock(store, "PEN").reserved) == (0, 0)
    order: Order = store.get(UUID(placed.order_id))
    assert order.cancel_reason == "changed mind"


def test_cancel_order_raises_illegal_transition_when_already_cancelled(
    store: MemoryEventStore,
) -> None:
    shelve(store, "MUG", 1200, 5)
    placed = place(store, customer(), ("MUG", 1, 1200))
    dispatch(CancelOrder(UUID(placed.order_id)), as_staff(store))
    with pytest.raises(IllegalTransition):
        dispatch(CancelOrder(UUID(placed.order_id)), as_staff(store))


def test_cancel_order_hides_another_customers_order(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    placed = place(store, customer(), ("MUG", 1, 1200))
    with pytest.raises(NotFound) as err:
        dispatch(CancelOrder(UUID(placed.order_id)), CommandContext(store, principal=customer()))
    assert err.value.field == "order_id" and stock(store, "MUG").reserved == 1


# -- idempotency --------------------------------------------------------------------------
def test_a_repeated_command_returns_the_first_result_and_writes_nothing(
    store: MemoryEventStore,
) -> None:
    shelve(store, "MUG", 1200, 5)
    buyer = customer()
    command = PlaceOrder(buyer.customer_id, [OrderLine("MUG", 1, eur(1200))], ADDRESS)
    first = dispatch(command, CommandContext(store, principal=buyer), idempotency_key="k-1")
    head = store.head()

    again = dispatch(command, CommandContext(store, principal=buyer), idempotency_key="k-1")

    assert again == first and store.head() == head
    assert stock(store, "MUG").reserved == 1


def test_a_key_reused_with_a_different_body_is_a_conflict(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    buyer = customer()
    ctx = CommandContext(store, principal=buyer)
    line = OrderLine("MUG", 1, eur(1200))
    dispatch(PlaceOrder(buyer.customer_id, [line], ADDRESS), ctx, idempotency_key="k-1")
    head = store.head()

    other = PlaceOrder(buyer.customer_id, [OrderLine("MUG", 2, eur(1200))], ADDRESS)
    with pytest.raises(IdempotencyKeyReused) as err:
        dispatch(other, ctx, idempotency_key="k-1")

    assert err.value.field == "Idempotency-Key" and store.head() == head


def test_idempotency_keys_belong_to_the_caller(store: MemoryEventStore) -> None:
    shelve(store, "MUG", 1200, 5)
    first, second = customer(), customer()
    a = place_keyed(store, first, "same-key")
    b = place_keyed(store, second, "same-key")
    assert a.order_id != b.order_id and stock(store, "MUG").reserved == 2


def place_keyed(store: MemoryEventStore, who: Principal, key: str) -> Any:
    command = PlaceOrder(who.customer_id, [OrderLine("MUG", 1, eur(1200))], ADDRESS)
    return dispatch(command, CommandContext(store, principal=who), idempotency_key=key)


# -- version conflicts --------------------------------------------------------------------
class RacedStore(MemoryEventStore):
    """Before each of its first `races` saves, another writer changes the stock of `sku`
    (behind the bus's back, as another process would), so the save meets a newer version."""

    def __init__(self, sku: str, races: int) -> None:
        super().__init__()
        self.sku, self.races, self.saves = sku, races, 0

    def save(self, *aggregates: Any, **kwargs: Any) -> int:
        self.saves += 1
        if self.races > 0 and any(isinstance(a, InventoryItem) for a in aggregates):
            self.races -= 1
            rival = stock(self, self.sku)
            rival.receive(1, "rival")
            self.app.save(rival)
        return super().save(*aggregates, **kwargs)


def test_a_version_conflict_is_retried_on_fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus.time, "sleep", lambda _: None)
    store = RacedStore("BOLT", races=0)
    shelve(store, "BOLT", 10, 5)
    store.races, store.saves = 2, 0

    result = place(store, customer(), ("BOLT", 2, 10))

    assert store.saves == 3  # two lost races, then the save on fresh state
    assert (result.status, stock(store, "BOLT").on_hand, stock(store, "BOLT").reserved) == (
        "placed",
        7,
        2,
    )
    assert len(store.recorder.select_events(UUID(result.order_id))) == 1


def test_a_command_that_keeps_losing_the_race_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus.time, "sleep", lambda _: None)
    monkeypatch.setattr(bus, "MAX_ATTEMPTS", 3)
    store = RacedStore("BOLT", races=0)
    shelve(store, "BOLT", 10, 5)
    store.races, store.saves = 10, 0

    with pytest.raises(ConcurrencyConflict):
        dispatch(ReceiveStock("BOLT", 1), as_staff(store))

    assert store.saves == 3 and stock(store, "BOLT").on_hand == 5 + 3  # only the rivals'


def test_a_twin_request_that_won_the_race_is_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests with one key: the one that loses the version race returns the winner's
    result instead of retrying (and reserving twice)."""
    monkeypatch.setattr(bus.time, "sleep", lambda _: None)
    store = MemoryEventStore()
    shelve(store, "MUG", 1200, 5)
    buyer = customer()
    command = PlaceOrder(buyer.customer_id, [OrderLine("MUG", 1, eur(1200))], ADDRESS)
    twin: list[Any] = []
    real_save = store.save

    def save_after_the_twin(*aggregates: Any, **kwargs: Any) -> int:
        if not twin:  # the twin (another process) saves between our load and our save
            twin.append(None)
            ctx = CommandContext(
                store,
                principal=buyer,
                claim_scope=buyer.subject,
                claim_key="k",
                claim_fingerprint=bus.fingerprint(command),
            )
            twin[0] = bus.HANDLERS[PlaceOrder](command, ctx)
        return real_save(*aggregates, **kwargs)

    store.save = save_after_the_twin  # type: ignore[method-assign]
    result = dispatch(command, CommandContext(store, principal=buyer), idempotency_key="k")

    assert result == twin[0] and stock(store, "MUG").reserved == 1
