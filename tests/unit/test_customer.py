"""Customer: addresses, defaults and tier, as a story and as a hypothesis state machine
(defaults always name a saved address; the aggregate rebuilt from its events is the same)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from tillroll.aggregates.customers.customer import CUSTOMER_TIERS, MAX_ADDRESSES, Customer
from tillroll.aggregates.errors import Conflict, InvalidValue, NotFound
from tillroll.aggregates.ordering.order import Address
from tillroll.commands.passwords import check_password

HOME = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
WORK = Address("Ada", "2 Side St", "Paris", "75001", "FR")


def replayed(customer: Customer) -> Customer:
    events = customer.collect_events()
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Customer)
    return rebuilt


def test_removing_the_default_address_clears_the_default() -> None:
    customer = Customer.register(uuid4(), "Ada")
    home = uuid4()
    customer.add_address(home, HOME)
    customer.choose_default(home, "shipping")
    customer.choose_default(home, "billing")
    customer.remove_address(home)
    assert (customer.default_shipping, customer.default_billing) == (None, None)


def test_a_default_must_be_a_saved_address() -> None:
    customer = Customer.register(uuid4(), "Ada")
    with pytest.raises(NotFound):
        customer.choose_default(uuid4(), "shipping")


def test_the_stream_id_is_derived_from_the_customer_id_and_differs_from_it() -> None:
    customer_id = uuid4()
    assert Customer.register(customer_id, "Ada").id == Customer.create_id(customer_id)
    assert Customer.create_id(customer_id) != customer_id


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "password",
        "Password1!",
        "qwerty123",
        "aaaaaaaaaaaa",
        "ada.lovelace",
        "ADA.LOVELACE99",
    ],
)
def test_weak_passwords_are_refused_naming_password(password: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        check_password(password, "ada.lovelace@example.com")
    assert raised.value.field == "password"


def test_a_long_uncommon_password_is_accepted() -> None:
    check_password("correct horse battery staple", "ada.lovelace@example.com")


class CustomerMachine(RuleBasedStateMachine):
    addresses = Bundle("addresses")

    def __init__(self) -> None:
        super().__init__()
        self.customer = Customer.register(uuid4(), "Ada")
        self.model: dict[UUID, Address] = {}
        self.defaults: dict[str, UUID | None] = {"shipping": None, "billing": None}
        self.tier = "base"

    @rule(target=addresses, address=st.sampled_from([HOME, WORK]))
    def add(self, address: Address) -> UUID:
        address_id = uuid4()
        if len(self.model) >= MAX_ADDRESSES:
            with pytest.raises(Conflict):
                self.customer.add_address(address_id, address)
            return address_id
        self.customer.add_address(address_id, address)
        self.model[address_id] = address
        return address_id

    @rule(address_id=addresses, address=st.sampled_from([HOME, WORK]))
    def change(self, address_id: UUID, address: Address) -> None:
        if address_id not in self.model:
            with pytest.raises(NotFound):
                self.customer.change_address(address_id, address)
            return
        self.customer.change_address(address_id, address)
        self.model[address_id] = address

    @rule(address_id=addresses)
    def remove(self, address_id: UUID) -> None:
        if address_id not in self.model:
            with pytest.raises(NotFound):
                self.customer.remove_address(address_id)
            return
        self.customer.remove_address(address_id)
        del self.model[address_id]
        for kind, chosen in self.defaults.items():
            if chosen == address_id:
                self.defaults[kind] = None

    @rule(address_id=addresses, kind=st.sampled_from(["shipping", "billing"]))
    def choose_default(self, address_id: UUID, kind: str) -> None:
        if address_id not in self.model:
            with pytest.raises(NotFound):
                self.customer.choose_default(address_id, kind)
            return
        self.customer.choose_default(address_id, kind)
        self.defaults[kind] = address_id

    @rule(tier=st.sampled_from([*CUSTOMER_TIERS, "platinum", ""]))
    def set_tier(self, tier: str) -> None:
        if tier not in CUSTOMER_TIERS:
            with pytest.raises(InvalidValue):
                self.customer.set_tier(tier)
            return
        self.customer.set_tier(tier)
        self.tier = tier

    @invariant()
    def defaults_name_saved_addresses(self) -> None:
        for kind in ("shipping", "billing"):
            chosen = self.customer.default_of(kind)
            assert chosen is None or chosen in self.customer.addresses
            assert chosen == self.defaults[kind]

    @invariant()
    def state_matches_the_model(self) -> None:
        assert self.customer.addresses == self.model
        assert self.customer.tier == self.tier in CUSTOMER_TIERS

    def teardown(self) -> None:
        # The events alone rebuild the same customer (what loading from the log does).
        rebuilt = replayed(self.customer)
        assert rebuilt.addresses == self.model and rebuilt.tier == self.tier
        assert (rebuilt.default_shipping, rebuilt.default_billing) == (
            self.defaults["shipping"],
            self.defaults["billing"],
        )


TestCustomerMachine = CustomerMachine.TestCase
