"""Catalog routes: create products, change prices (base and per tier), images and attributes,
archive; search with facets, product cards, price history."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.errors import InvalidValue
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
from tillroll.commands.catalog import (
    ArchiveProduct,
    ChangePrice,
    ChangeProductDetails,
    CreateProduct,
    PriceUpdate,
    ProductChanged,
    ProductDetails,
    SetTierPrice,
    TierPriceUpdate,
)
from tillroll.commands.ports import EventStorePort
from tillroll.queries import catalog as q
from tillroll.queries import insights
from tillroll.queries.read_side import Page, ReadSide

MAX_ATTRIBUTE_FILTERS = 10
# The search's sorts, and bestselling (read model bestsellers, not the search's).
SORT_PATTERN = q.SORT_PATTERN.replace("|newest)", f"|newest|{insights.BESTSELLING})")


def attribute_filters(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    """`?attribute=colour:black` (repeatable) as (name, value) pairs."""
    pairs = []
    for value in values or []:
        name, colon, wanted = value.partition(":")
        if not colon or not name or not wanted:
            raise ValidationException(
                "an attribute filter reads name:value",
                extra=[{"message": "an attribute filter reads name:value", "key": "attribute"}],
            )
        pairs.append((name, wanted))
    return tuple(pairs)


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

    @post("/{sku:str}/price", guards=[roles(STAFF)], sync_to_thread=True, status_code=200)
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

    @post("/{sku:str}/tier-prices", guards=[roles(STAFF)], sync_to_thread=True, status_code=200)
    def set_tier_price(
        self,
        sku: SkuPath,
        data: JSONBody[TierPriceUpdate],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ProductChanged]:
        """Set a customer tier's price (staff); tiers without one pay the base price."""
        command = SetTierPrice(sku=sku, tier=data.tier, price=data.price)
        return command_response(run_command(request, store, command))

    @post("/{sku:str}/archive", guards=[roles(STAFF)], sync_to_thread=True, status_code=200)
    def archive(
        self, sku: SkuPath, store: NamedDependency[EventStorePort], request: Request
    ) -> Response[ProductChanged]:
        """Archive a product (staff): no longer sold or found by search; its card and old
        orders still show it."""
        return command_response(run_command(request, store, ArchiveProduct(sku=sku)))

    @patch("/{sku:str}", guards=[roles(STAFF)], sync_to_thread=True)
    def change_details(
        self,
        sku: SkuPath,
        data: JSONBody[ProductDetails],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ProductChanged]:
        """Replace a product's images and/or attributes (staff)."""
        command = ChangeProductDetails(sku=sku, images=data.images, attributes=data.attributes)
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
        attribute: Annotated[
            list[str] | None,
            QueryParameter(max_items=MAX_ATTRIBUTE_FILTERS, description="name:value"),
        ] = None,
        sort: Annotated[
            str | None,
            QueryParameter(
                pattern=SORT_PATTERN,
                description="default: relevance with q, else sku; bestselling: units sold,"
                " most first (with category only)",
            ),
        ] = None,
        facets: FromQuery[bool] = True,
        limit: Limit = 20,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[q.SearchPage]:
        """Search the catalog (SQL read model product_search): full text with stemming and
        prefix matching, a category with its sub-categories, facet counts of the result set.
        Archived products are never found. `sort=bestselling` lists products sold, by units
        sold (all-time; with `category`, in it and below it)."""
        if sort == insights.BESTSELLING:
            extra = {"q": q_, "tag": tag, "min_price": min_price, "max_price": max_price,
                     "in_stock": in_stock, "attribute": attribute}  # fmt: skip
            for name, value in extra.items():
                if value is not None:
                    raise InvalidValue(f"sort=bestselling takes no {name} filter", field=name)
            position = read.wait_for("bestsellers", min_position)
            page = insights.bestselling_products(read, category, limit, cursor)
            return read_response(page, position)
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
                attributes=attribute_filters(attribute),
                sort=sort,
                facets=facets,
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
        tier: Annotated[
            str, QueryParameter(pattern=r"^(base|bronze|silver|gold)$(?!\n)")
        ] = BASE_TIER,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """Every price one tier (the base price by default) has had, with when it took
        effect (SQL read model)."""
        position = read.wait_for("price_history", min_position)
        return read_response(q.price_history(read, sku, limit, cursor, tier), position)
