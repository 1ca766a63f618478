"""Cart routes: a customer's cart or a guest's (whose unguessable id is its key), its lines
and address, merging a guest cart into the customer's, and checkout into an order.

The routes a guest uses are public (no token needed); a token, when sent, is still checked
in full (a bad one is a 401, never a silent guest), and a customer's cart reached by anyone
else is a 404, the same answer as a cart that does not exist."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import anyio
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.sku import Sku
from tillroll.api.auth import CUSTOMER, roles
from tillroll.api.requests import (
    MinPosition,
    command_response,
    read_redis,
    read_response,
    run_command,
)
from tillroll.commands.carts import (
    AddCartItem,
    ApplyCartAddress,
    CartAddress,
    CartChanged,
    CartItemAdd,
    CartItemChange,
    ChangeCartItem,
    CheckoutCart,
    CheckoutRequest,
    ClearCart,
    MergeCarts,
    OpenCart,
    RemoveCartItem,
)
from tillroll.commands.context import Principal
from tillroll.commands.ordering import OrderChanged
from tillroll.commands.ports import CustomerTiers, EventStorePort
from tillroll.queries import carts as q
from tillroll.queries.read_side import ReadSide

PUBLIC = {"public": True}
"""Skipped by the JWT middleware: the `caller` dependency checks a token when one is sent."""


async def provide_caller(request: Request) -> Principal | None:
    """The token's principal, or None for a guest (no Authorization header). The app's own
    JWT middleware checks the token, so a public cart route accepts exactly the tokens
    every other route does."""
    if not request.headers.get("Authorization"):
        return None
    state = request.app.state
    checker = state.get("cart_token_checker")
    if checker is None:
        checker = state.jwt_auth.middleware(app=None)
        state["cart_token_checker"] = checker
    result = await checker.authenticate_request(request)
    principal = result.user
    assert isinstance(principal, Principal)
    return principal


def _acting(caller: Principal | None, cart_id: UUID) -> Principal:
    """Who a command on a cart runs as. A guest is named after the cart it holds, which
    also scopes its idempotency keys to that cart."""
    return caller or Principal(subject=f"guest:{cart_id}", role="guest")


def _customer(caller: Principal | None) -> UUID | None:
    return caller.customer_id if caller is not None and caller.is_customer else None


class CartsController(Controller):
    path = "/v1/carts"
    tags = ["carts"]
    dependencies = {"caller": Provide(provide_caller)}

    @post("/", opt=PUBLIC, sync_to_thread=True)
    def open(
        self,
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CartChanged]:
        """A customer's open cart (created on first use, started afresh after a checkout);
        without a token, a new guest cart whose id is the guest's key to it."""
        if caller is not None and not caller.is_customer:
            raise PermissionDeniedException("carts belong to customers and guests")
        if caller is None:
            # A fresh name per request: guests share no idempotency scope.
            principal = Principal(subject=f"guest:{uuid4()}", role="guest")
            result = run_command(request, store, OpenCart(), principal)
        else:
            result = run_command(request, store, OpenCart(caller.customer_id), caller)
        return command_response(result, 201 if result.created else 200)

    @get("/{cart_id:uuid}", opt=PUBLIC)
    async def view(
        self,
        cart_id: FromPath[UUID],
        caller: NamedDependency[Principal | None],
        read: NamedDependency[ReadSide],
        tiers: NamedDependency[CustomerTiers],
        min_position: MinPosition = None,
    ) -> Response[q.CartView]:
        """The cart, each line at the current price for the caller's tier with the stock
        available now; flags lines whose price changed or whose stock is short."""
        position, doc = await read_redis(read, q.cart_read(cart_id), min_position)
        customer = _customer(caller)
        if doc is None or (doc.customer_id is not None and doc.customer_id != customer):
            raise NotFoundException(f"cart {cart_id} not found")
        tier = BASE_TIER
        if customer is not None:
            tier = await anyio.to_thread.run_sync(tiers.tier_of, customer)
        current: dict[str, Any] = {}
        if doc.quantities:
            _, found = await read_redis(read, q.prices_read(sorted(doc.quantities), tier), None)
            current = found or {}
        return read_response(q.cart_view(doc, current), position)

    @post("/{cart_id:uuid}/items", opt=PUBLIC, sync_to_thread=True)
    def add_item(
        self,
        cart_id: FromPath[UUID],
        data: JSONBody[CartItemAdd],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        tiers: NamedDependency[CustomerTiers],
        request: Request,
    ) -> Response[CartChanged]:
        """Add a product (an existing line's quantity grows); the line keeps the price the
        shopper's tier pays now. An unknown or archived product is refused naming `sku`."""
        customer = _customer(caller)
        tier = BASE_TIER if customer is None else tiers.tier_of(customer)
        command = AddCartItem(cart_id, data.sku, data.quantity, tier)
        return command_response(run_command(request, store, command, _acting(caller, cart_id)))

    @patch("/{cart_id:uuid}/items/{sku:str}", opt=PUBLIC, sync_to_thread=True)
    def change_item(
        self,
        cart_id: FromPath[UUID],
        sku: FromPath[Sku],
        data: JSONBody[CartItemChange],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CartChanged]:
        """Set a line's quantity; 0 removes it."""
        command = ChangeCartItem(cart_id, sku, data.quantity)
        return command_response(run_command(request, store, command, _acting(caller, cart_id)))

    @delete("/{cart_id:uuid}/items/{sku:str}", opt=PUBLIC, sync_to_thread=True, status_code=200)
    def remove_item(
        self,
        cart_id: FromPath[UUID],
        sku: FromPath[Sku],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CartChanged]:
        """Remove a line."""
        command = RemoveCartItem(cart_id, sku)
        return command_response(run_command(request, store, command, _acting(caller, cart_id)))

    @delete("/{cart_id:uuid}/items", opt=PUBLIC, sync_to_thread=True, status_code=200)
    def clear(
        self,
        cart_id: FromPath[UUID],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CartChanged]:
        """Remove every line."""
        command = ClearCart(cart_id)
        return command_response(run_command(request, store, command, _acting(caller, cart_id)))

    @put("/{cart_id:uuid}/address", opt=PUBLIC, sync_to_thread=True)
    def apply_address(
        self,
        cart_id: FromPath[UUID],
        data: JSONBody[CartAddress],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CartChanged]:
        """Ship to `shipping_address`, or to the customer's saved address `address_id`."""
        command = ApplyCartAddress(cart_id, data.shipping_address, data.address_id)
        return command_response(run_command(request, store, command, _acting(caller, cart_id)))

    @post("/{cart_id:uuid}/merge", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def merge(
        self,
        cart_id: FromPath[UUID],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CartChanged]:
        """Merge the guest cart `cart_id` into the caller's cart (quantities add, capped);
        the guest cart is closed in the same save."""
        assert caller is not None  # the route is not public: the token was checked
        command = MergeCarts(guest_cart_id=cart_id, customer_id=caller.customer_id)
        return command_response(run_command(request, store, command, caller))

    @post("/{cart_id:uuid}/checkout", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def checkout(
        self,
        cart_id: FromPath[UUID],
        caller: NamedDependency[Principal | None],
        store: NamedDependency[EventStorePort],
        request: Request,
        data: JSONBody[CheckoutRequest | None] = None,
    ) -> Response[OrderChanged]:
        """Turn the cart into an order under POST /v1/orders' rules (every line reserved
        atomically, 409 naming the sku when short, 422 with the new price when a line's
        price changed, unless `accept_current_prices`), and mark it checked out in the
        same save. Send an `Idempotency-Key`: a retry returns the same order."""
        assert caller is not None
        body = data or CheckoutRequest()
        command = CheckoutCart(
            cart_id=cart_id,
            shipping_address=body.shipping_address,
            address_id=body.address_id,
            accept_current_prices=body.accept_current_prices,
        )
        return command_response(run_command(request, store, command, caller), 201)
