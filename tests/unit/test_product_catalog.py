"""Products in the shop's catalog: images, attributes, archive, tier prices; and the order's
price check with a customer's tier (handlers on the in-memory event store)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from tillroll.aggregates.catalog.attributes import BASE_TIER, ProductImage
from tillroll.aggregates.catalog.product import Product, ProductArchived
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import InvalidValue, PriceMismatch
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import (
    ArchiveProduct,
    ChangeProductDetails,
    CreateProduct,
    SetTierPrice,
)
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.inventory import ReceiveStock
from tillroll.commands.ordering import PlaceOrder
from tillroll.infra.memory import MemoryEventStore

ADDRESS = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
STAFF = Principal(subject="staff-1", role="staff")


def eur(cents: int) -> Money:
    return Money(cents, "EUR")


@pytest.fixture
def store() -> MemoryEventStore:
    store = MemoryEventStore()
    staff = CommandContext(store, principal=STAFF)
    dispatch(CreateProduct("MUG", "Mug", eur(1200)), staff)
    dispatch(ReceiveStock("MUG", 10), staff)
    return store


def staff(store: MemoryEventStore) -> CommandContext:
    return CommandContext(store, principal=STAFF)


def place(store: MemoryEventStore, cents: int, tier: str = BASE_TIER) -> object:
    who = Principal(subject=str(uuid4()), role="customer")
    if tier != BASE_TIER:  # the tier is the customer's, as staff set it
        customer = Customer.register(who.customer_id, "Ada")
        customer.set_tier(tier)
        store.save(customer, meta={})
    command = PlaceOrder(who.customer_id, [OrderLine("MUG", 1, eur(cents))], ADDRESS)
    return dispatch(command, CommandContext(store, principal=who))


def product(store: MemoryEventStore) -> Product:
    found: Product = store.get(Product.create_id("MUG"))
    return found


# -- tier prices --------------------------------------------------------------------------
def test_a_tier_without_a_price_of_its_own_pays_the_base_price(store: MemoryEventStore) -> None:
    dispatch(SetTierPrice("MUG", "gold", eur(999)), staff(store))
    mug = product(store)
    assert mug.price_for("gold") == eur(999)
    assert mug.price_for("silver") == mug.price_for(BASE_TIER) == eur(1200)


def test_an_order_of_a_gold_customer_is_checked_against_the_gold_price(
    store: MemoryEventStore,
) -> None:
    dispatch(SetTierPrice("MUG", "gold", eur(999)), staff(store))
    with pytest.raises(PriceMismatch) as raised:
        place(store, 1200, tier="gold")  # the base price is not what gold pays
    assert raised.value.extra["expected"] == {"amount": 999, "currency": "EUR"}
    assert place(store, 999, tier="gold").total == eur(999)  # type: ignore[attr-defined]


def test_an_order_of_the_base_tier_still_pays_the_base_price(store: MemoryEventStore) -> None:
    dispatch(SetTierPrice("MUG", "gold", eur(999)), staff(store))
    with pytest.raises(PriceMismatch):
        place(store, 999)
    assert place(store, 1200).total == eur(1200)  # type: ignore[attr-defined]


def test_a_base_tier_order_encodes_as_before_tiers_existed() -> None:
    import msgspec

    command = PlaceOrder(uuid4(), [OrderLine("MUG", 1, eur(1))], ADDRESS)
    assert b"tier" not in msgspec.json.encode(command)  # idempotency fingerprints unchanged


@pytest.mark.parametrize(
    ("tier", "price", "field"),
    [("platinum", eur(1), "tier"), ("gold", Money(1, "USD"), "price.currency")],
)
def test_a_bad_tier_price_names_the_field(
    store: MemoryEventStore, tier: str, price: Money, field: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        product(store).set_tier_price(tier, price)
    assert raised.value.field == field


# -- archive ------------------------------------------------------------------------------
def test_an_archived_product_cannot_be_ordered_and_the_409_names_the_sku(
    store: MemoryEventStore,
) -> None:
    dispatch(ArchiveProduct("MUG"), staff(store))
    with pytest.raises(ProductArchived) as raised:
        place(store, 1200)
    assert raised.value.sku == "MUG" and raised.value.field == "lines[0].sku"


def test_archiving_twice_records_one_event(store: MemoryEventStore) -> None:
    first = dispatch(ArchiveProduct("MUG"), staff(store))
    second = dispatch(ArchiveProduct("MUG"), staff(store))
    assert first.version == second.version and product(store).archived


def test_the_rule_lives_in_the_product_for_every_caller() -> None:
    mug = Product.create("MUG", "Mug", eur(1))
    mug.check_orderable()
    mug.archive()
    with pytest.raises(ProductArchived):
        mug.check_orderable()


# -- images and attributes ----------------------------------------------------------------
def test_images_and_attributes_are_replaced_as_given(store: MemoryEventStore) -> None:
    image = ProductImage("https://cdn.example.com/mug.jpg", "A mug")
    dispatch(
        ChangeProductDetails("MUG", images=[image], attributes={"colour": "red"}), staff(store)
    )
    dispatch(ChangeProductDetails("MUG", attributes={"size": "L", "colour": "blue"}), staff(store))
    mug = product(store)
    assert mug.images == [image] and mug.attributes == {"colour": "blue", "size": "L"}


@pytest.mark.parametrize(
    ("images", "attributes", "field"),
    [
        ([ProductImage("javascript:alert(1)")], None, "images[0].url"),
        ([ProductImage("https://x.example/a.jpg\n")], None, "images[0].url"),
        (None, {"Colour": "red"}, "attributes"),
        (None, {"colour": ""}, "attributes.colour"),
    ],
)
def test_bad_images_or_attributes_name_the_field(
    images: list[ProductImage] | None, attributes: dict[str, str] | None, field: str
) -> None:
    mug = Product.create("MUG", "Mug", eur(1))
    with pytest.raises(InvalidValue) as raised:
        if images is not None:
            mug.change_images(images)
        if attributes is not None:
            mug.change_attributes(attributes)
    assert raised.value.field == field


def test_a_product_created_before_images_and_attributes_still_loads() -> None:
    app = MemoryEventStore().app
    product_id = Product.create_id("OLD")
    state = {
        "timestamp": datetime(2025, 1, 2, tzinfo=UTC),
        "originator_topic": get_topic(Product),
        "sku": "OLD",
        "name": "Old mug",
        "description": "",
        "category": "kitchen",
        "tags": [],
        "price": Money(500, "EUR"),
    }  # a version 1 Created event: no class_version, no images, no attributes
    stored = StoredEvent(
        product_id, 1, get_topic(Product.Created), app.mapper.transcoder.encode(state)
    )
    old = app.mapper.to_domain_event(stored).mutate(None)
    assert (old.sku, old.images, old.attributes, old.archived) == ("OLD", [], {}, False)
    assert old.price_for("gold") == Money(500, "EUR")
