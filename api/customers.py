"""Customer routes: the caller's own profile, addresses, orders and password (/v1/me), and
the tier staff set (/v1/customers/{id}/tier). The customer id always comes from the token,
so a customer cannot name anyone else's address: another's address id is simply not found."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid5

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody, QueryParameter
from tillroll.aggregates.ordering.order import Address
from tillroll.api.auth import AUDITOR, CUSTOMER, OPS, STAFF, roles
from tillroll.api.requests import (
    IDEMPOTENCY_HEADER,
    Cursor,
    Limit,
    MinPosition,
    command_response,
    read_redis,
    read_response,
    run_command,
)
from tillroll.commands.context import Principal
from tillroll.commands.customers import (
    AddAddress,
    ChangeAddress,
    ChangeProfile,
    ChooseDefaultAddress,
    CustomerChanged,
    ProfileChange,
    RemoveAddress,
    SetCustomerTier,
)
from tillroll.commands.identity import change_password
from tillroll.commands.passwords import MAX_PASSWORD
from tillroll.commands.ports import EventStorePort
from tillroll.queries import customers as q
from tillroll.queries import orders as order_queries
from tillroll.queries.read_side import Page, ReadSide

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD)]
AddressKind = Annotated[str, QueryParameter(pattern=r"^(shipping|billing)$(?!\n)")]


class PasswordChange(msgspec.Struct, frozen=True):
    current_password: Password
    new_password: Password


class TierChange(msgspec.Struct, frozen=True):
    tier: Annotated[str, msgspec.Meta(pattern=r"^(base|bronze|silver|gold)$(?!\n)")]


def _me(request: Request) -> Principal:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal


class MeController(Controller):
    path = "/v1/me"
    tags = ["customers"]

    @get("/", guards=[roles(CUSTOMER)])
    async def profile(
        self, read: NamedDependency[ReadSide], request: Request, min_position: MinPosition = None
    ) -> Response[q.ProfileView]:
        """The caller's profile: e-mail, name, tier and default address ids."""
        position, found = await read_redis(
            read, q.profile_read(_me(request).customer_id), min_position
        )
        if found is None:
            raise NotFoundException("no customer profile for this account")
        return read_response(found, position)

    @patch("/", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def change_profile(
        self,
        data: JSONBody[ProfileChange],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CustomerChanged]:
        """Change the caller's profile (`name`)."""
        command = ChangeProfile(_me(request).customer_id, data.name)
        return command_response(run_command(request, store, command))

    @post(
        "/password",
        guards=[roles(CUSTOMER, STAFF, AUDITOR, OPS)],
        sync_to_thread=True,
        status_code=204,
    )
    def change_password(
        self,
        data: JSONBody[PasswordChange],
        store: NamedDependency[EventStorePort],
        credentials: NamedDependency[Any],
        request: Request,
    ) -> None:
        """Change the caller's password; every session (refresh token) of theirs is revoked."""
        change_password(store, credentials, _me(request), data.current_password, data.new_password)

    @get("/addresses", guards=[roles(CUSTOMER)])
    async def addresses(
        self, read: NamedDependency[ReadSide], request: Request, min_position: MinPosition = None
    ) -> Response[q.AddressList]:
        """The caller's saved addresses and which are the defaults."""
        customer_id = _me(request).customer_id
        position, found = await read_redis(read, q.addresses_read(customer_id), min_position)
        if found is None:
            raise NotFoundException("no customer profile for this account")
        return read_response(found, position)

    @post("/addresses", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def add_address(
        self, data: JSONBody[Address], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[CustomerChanged]:
        """Save an address; the answer names its `address_id`."""
        customer_id = _me(request).customer_id
        key = request.headers.get(IDEMPOTENCY_HEADER)
        # With an Idempotency-Key a retry must be the same command: the id follows the key.
        command = (
            AddAddress(customer_id, data)
            if key is None
            else AddAddress(customer_id, data, uuid5(customer_id, f"address:{key}"))
        )
        return command_response(run_command(request, store, command), 201)

    @put("/addresses/{address_id:uuid}", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def change_address(
        self,
        address_id: FromPath[UUID],
        data: JSONBody[Address],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CustomerChanged]:
        """Replace a saved address."""
        command = ChangeAddress(_me(request).customer_id, address_id, data)
        return command_response(run_command(request, store, command))

    @delete(
        "/addresses/{address_id:uuid}",
        guards=[roles(CUSTOMER)],
        sync_to_thread=True,
        status_code=200,
    )
    def remove_address(
        self, address_id: FromPath[UUID], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[CustomerChanged]:
        """Remove a saved address; a default that named it is cleared."""
        command = RemoveAddress(_me(request).customer_id, address_id)
        return command_response(run_command(request, store, command))

    @post(
        "/addresses/{address_id:uuid}/default",
        guards=[roles(CUSTOMER)],
        sync_to_thread=True,
        status_code=200,
    )
    def choose_default(
        self,
        address_id: FromPath[UUID],
        kind: AddressKind,
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CustomerChanged]:
        """Make a saved address the default for shipping or billing (`?kind=`)."""
        command = ChooseDefaultAddress(_me(request).customer_id, address_id, kind)
        return command_response(run_command(request, store, command))

    @get("/orders", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def orders(
        self,
        read: NamedDependency[ReadSide],
        request: Request,
        limit: Limit = 20,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """The caller's orders, newest first (customer_orders)."""
        position = read.wait_for("customer_orders", min_position)
        page = order_queries.list_orders(
            read,
            order_queries.OrderFilter(
                customer_id=_me(request).customer_id, limit=limit, cursor=cursor
            ),
        )
        return read_response(page, position)


class CustomersController(Controller):
    path = "/v1/customers"
    tags = ["customers"]

    @put("/{customer_id:uuid}/tier", guards=[roles(STAFF)], sync_to_thread=True)
    def set_tier(
        self,
        customer_id: FromPath[UUID],
        data: JSONBody[TierChange],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CustomerChanged]:
        """Set a customer's price tier (base, bronze, silver, gold)."""
        command = SetCustomerTier(customer_id, data.tier)
        return command_response(run_command(request, store, command))
