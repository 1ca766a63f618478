"""Customer commands: change the profile, keep saved addresses (and the defaults), set the
tier (staff). A customer only ever reaches their own Customer: the id comes from the token."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import msgspec
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.customers.customer import Customer, Name
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.ordering.order import Address
from tillroll.commands.context import CommandContext
from tillroll.commands.ports import EventStorePort


class ProfileChange(msgspec.Struct, frozen=True):
    """The body of PATCH /v1/me."""

    name: Name | None = None


class TierChange(msgspec.Struct, frozen=True):
    """The body of PUT /v1/customers/{id}/tier."""

    tier: str


class ChangeProfile(msgspec.Struct, frozen=True):
    customer_id: UUID
    name: str | None = None


class AddAddress(msgspec.Struct, frozen=True):
    customer_id: UUID
    address: Address
    address_id: UUID = msgspec.field(default_factory=uuid4)


class ChangeAddress(msgspec.Struct, frozen=True):
    customer_id: UUID
    address_id: UUID
    address: Address


class RemoveAddress(msgspec.Struct, frozen=True):
    customer_id: UUID
    address_id: UUID


class ChooseDefaultAddress(msgspec.Struct, frozen=True):
    customer_id: UUID
    address_id: UUID
    kind: str


class SetCustomerTier(msgspec.Struct, frozen=True):
    customer_id: UUID
    tier: str


class CustomerChanged(msgspec.Struct):
    customer_id: str
    version: int
    address_id: str | None = None
    position: int = 0


def load_customer(ctx: CommandContext, customer_id: UUID) -> Customer:
    """The Customer; a customer account opened before Customers existed gets a new one here
    (saved with the command's change)."""
    stream_id = Customer.create_id(customer_id)
    customer = ctx.load_many([stream_id]).get(stream_id)
    if isinstance(customer, Customer):
        return customer
    account = ctx.load_many([customer_id]).get(customer_id)
    if isinstance(account, Account) and account.role == "customer":
        return Customer.register(customer_id, account.name)
    raise NotFound(f"customer {customer_id} not found", field="customer_id")


def _saved(ctx: CommandContext, customer: Customer, address_id: UUID | None = None) -> Any:
    result = CustomerChanged(
        str(customer.customer_id),
        customer.version,
        None if address_id is None else str(address_id),
    )
    return ctx.save(result, customer)


def change_profile(cmd: ChangeProfile, ctx: CommandContext) -> CustomerChanged:
    customer = load_customer(ctx, cmd.customer_id)
    if cmd.name is not None:
        customer.rename(cmd.name)
    return _saved(ctx, customer)


def add_address(cmd: AddAddress, ctx: CommandContext) -> CustomerChanged:
    customer = load_customer(ctx, cmd.customer_id)
    customer.add_address(cmd.address_id, cmd.address)
    return _saved(ctx, customer, cmd.address_id)


def change_address(cmd: ChangeAddress, ctx: CommandContext) -> CustomerChanged:
    customer = load_customer(ctx, cmd.customer_id)
    customer.change_address(cmd.address_id, cmd.address)
    return _saved(ctx, customer, cmd.address_id)


def remove_address(cmd: RemoveAddress, ctx: CommandContext) -> CustomerChanged:
    customer = load_customer(ctx, cmd.customer_id)
    customer.remove_address(cmd.address_id)
    return _saved(ctx, customer, cmd.address_id)


def choose_default_address(cmd: ChooseDefaultAddress, ctx: CommandContext) -> CustomerChanged:
    customer = load_customer(ctx, cmd.customer_id)
    customer.choose_default(cmd.address_id, cmd.kind)
    return _saved(ctx, customer, cmd.address_id)


def set_customer_tier(cmd: SetCustomerTier, ctx: CommandContext) -> CustomerChanged:
    customer = load_customer(ctx, cmd.customer_id)
    customer.set_tier(cmd.tier)
    return _saved(ctx, customer)


class StoredTiers:
    """CustomerTiers from the Customer aggregates themselves (the trusted cache keeps a
    warm one a memory read): the tier a cart shows is the tier its checkout charges."""

    def __init__(self, store: EventStorePort) -> None:
        self.store = store

    def tier_of(self, customer_id: UUID | None) -> str:
        if customer_id is None:
            return BASE_TIER
        stream = Customer.create_id(customer_id)
        customer = self.store.get_many([stream]).get(stream)
        return BASE_TIER if customer is None else customer.tier
