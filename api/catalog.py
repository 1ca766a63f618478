"""Catalog routes: create products, change prices, search, product cards, price history."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from tillroll.aggregates.sku import SKU_PATTERN
from tillroll.api.auth import STAFF, roles
from tillroll.api.requests import (
    Cursor,
    Limit,
    MinPosition,
    command_response,
    read_redis,
    read_response,
    run_command,
)
from tillroll.commands.catalog import ChangePrice, CreateProduct, PriceUpdate, ProductChanged
from tillroll.commands.ports import EventStorePort
from tillroll.queries import catalog as q
from tillroll.queries.read_side import Page, ReadSide

SkuPath = Annotated[
    str, PathParameter(pattern=SKU_PATTERN, description="1-64 of A-Z a-z 0-9 - _ .")
]


class CatalogController(Controller):
    path = "/v1/products"
    tags = ["catalog"]

    @post("/", guards=[roles(STAFF)], sync_to_thread=True)
    def create_product(
        self,
        data: JSONBody[CreateProduct],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ProductChanged]:
        """Create a product (staff)."""
        return command_response(run_command(request, store, data), 201)

    @post("/{sku:str}/price", guards=[roles(STAFF)], sync_to_thread=True)
    def change_price(
        self,
        sku: SkuPath,
        data: JSONBody[PriceUpdate],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ProductChanged]:
        """Change a product's price (staff); the old price stays in the price history."""
        command = ChangePrice(sku=sku, price=data.price)
        return command_response(run_command(request, store, command))

    @get("/", opt={"public": True}, sync_to_thread=True)
    def search(
        self,
        read: NamedDependency[ReadSide],
        q_: Annotated[str | None, QueryParameter(name="q", max_length=200)] = None,
        category: Annotated[str | None, QueryParameter(max_length=100)] = None,
        tag: Annotated[str | None, QueryParameter(max_length=50)] = None,
        min_price: Annotated[int | None, QueryParameter(ge=0)] = None,
        max_price: Annotated[int | None, QueryParameter(ge=0)] = None,
        in_stock: FromQuery[bool | None] = None,
        sort: Annotated[str, QueryParameter(pattern=r"^(sku|price|-price|name|newest)$")] = "sku",
        limit: Limit = 20,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """Search the catalog (SQL read model product_search)."""
        position = read.wait_for("product_search", min_position)
        page = q.search_products(
            read,
            q.ProductFilter(
                q=q_,
                category=category,
                tag=tag,
                min_price=min_price,
                max_price=max_price,
                in_stock=in_stock,
                sort=sort,
                limit=limit,
                cursor=cursor,
            ),
        )
        return read_response(page, position)

    @get("/{sku:str}", opt={"public": True})
    async def card(
        self, sku: SkuPath, read: NamedDependency[ReadSide], min_position: MinPosition = None
    ) -> Response[q.ProductCard]:
        """A product's card: current price and available stock (Redis read model product_cards)."""
        position, card = await read_redis(read, q.card_read(sku), min_position)
        if card is None:
            raise NotFoundException(f"product {sku!r} not found")
        return read_response(card, position)

    @get("/{sku:str}/price-history", opt={"public": True}, sync_to_thread=True)
    def price_history(
        self,
        sku: SkuPath,
        read: NamedDependency[ReadSide],
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """Every price the product has had, with when it took effect (SQL read model)."""
        position = read.wait_for("price_history", min_position)
        return read_response(q.price_history(read, sku, limit, cursor), position)
