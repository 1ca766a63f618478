"""Catalog commands: create a product, change its price or a tier's price, its images and
attributes, archive it."""

from __future__ import annotations

from typing import Annotated

import msgspec
from tillroll.aggregates.catalog.attributes import Attributes, Images, Tier
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import AlreadyExists, NotFound
from tillroll.aggregates.money import Money
from tillroll.aggregates.sku import Sku, check_sku
from tillroll.commands.context import CommandContext

Tag = Annotated[str, msgspec.Meta(max_length=50)]


class CreateProduct(msgspec.Struct, frozen=True):
    """Also the body of POST /v1/products."""

    sku: Sku
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    price: Money
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    category: Annotated[str, msgspec.Meta(max_length=100)] = ""
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)] = []
    images: Images = []
    attributes: Attributes = {}


class PriceUpdate(msgspec.Struct, frozen=True):
    """What a client sends to change a price; the sku comes from the path."""

    price: Money


class ChangePrice(msgspec.Struct, frozen=True):
    sku: Sku
    price: Money


class TierPriceUpdate(msgspec.Struct, frozen=True):
    """The body of POST /v1/products/{sku}/tier-prices."""

    tier: Tier
    price: Money


class SetTierPrice(msgspec.Struct, frozen=True):
    sku: Sku
    tier: Tier
    price: Money


class ProductDetails(msgspec.Struct, frozen=True):
    """The body of PATCH /v1/products/{sku}: what is given replaces what the product had."""

    images: Images | None = None
    attributes: Attributes | None = None


class ChangeProductDetails(msgspec.Struct, frozen=True):
    sku: Sku
    images: Images | None = None
    attributes: Attributes | None = None


class ArchiveProduct(msgspec.Struct, frozen=True):
    sku: Sku


class ProductChanged(msgspec.Struct):
    sku: str
    product_id: str
    version: int
    price: Money
    position: int = 0


def _result(product: Product) -> ProductChanged:
    return ProductChanged(
        sku=product.sku,
        product_id=str(product.id),
        version=product.version,
        price=product.price,
    )


def load_product(ctx: CommandContext, sku: str) -> Product:
    try:
        return ctx.load(Product.create_id(check_sku(sku)))
    except NotFound:
        raise NotFound(f"product {sku!r} does not exist", field="sku") from None


def create_product(cmd: CreateProduct, ctx: CommandContext) -> ProductChanged:
    if ctx.store.exists(Product.create_id(check_sku(cmd.sku))):
        raise AlreadyExists(f"product {cmd.sku!r} already exists", field="sku")
    product = Product.create(
        sku=cmd.sku,
        name=cmd.name,
        price=cmd.price,
        description=cmd.description,
        category=cmd.category,
        tags=list(cmd.tags),
        images=list(cmd.images),
        attributes=dict(cmd.attributes),
    )
    return ctx.save(_result(product), product)


def change_price(cmd: ChangePrice, ctx: CommandContext) -> ProductChanged:
    product = load_product(ctx, cmd.sku)
    product.change_price(cmd.price)
    return ctx.save(_result(product), product)


def set_tier_price(cmd: SetTierPrice, ctx: CommandContext) -> ProductChanged:
    product = load_product(ctx, cmd.sku)
    product.set_tier_price(cmd.tier, cmd.price)
    return ctx.save(_result(product), product)


def change_product_details(cmd: ChangeProductDetails, ctx: CommandContext) -> ProductChanged:
    product = load_product(ctx, cmd.sku)
    if cmd.images is not None:
        product.change_images(list(cmd.images))
    if cmd.attributes is not None:
        product.change_attributes(dict(cmd.attributes))
    return ctx.save(_result(product), product)


def archive_product(cmd: ArchiveProduct, ctx: CommandContext) -> ProductChanged:
    product = load_product(ctx, cmd.sku)
    product.archive()
    return ctx.save(_result(product), product)
