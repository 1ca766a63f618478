"""Catalog commands: create a product, change its price."""

from __future__ import annotations

import msgspec
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import AlreadyExists, NotFound
from tillroll.aggregates.sku import check_sku
from tillroll.commands.context import CommandContext
from tillroll.commands.messages import MoneyIn


class CreateProduct(msgspec.Struct, frozen=True):
    sku: str
    name: str
    price: MoneyIn
    description: str = ""
    category: str = ""
    tags: list[str] = []


class ChangePrice(msgspec.Struct, frozen=True):
    sku: str
    price: MoneyIn


class ProductChanged(msgspec.Struct):
    sku: str
    product_id: str
    version: int
    price: MoneyIn
    position: int = 0


def _result(product: Product) -> ProductChanged:
    return ProductChanged(
        sku=product.sku,
        product_id=str(product.id),
        version=product.version,
        price=MoneyIn.of(product.price),
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
        price=cmd.price.to_domain(),
        description=cmd.description,
        category=cmd.category,
        tags=list(cmd.tags),
    )
    return ctx.save(_result(product), product)


def change_price(cmd: ChangePrice, ctx: CommandContext) -> ProductChanged:
    product = load_product(ctx, cmd.sku)
    product.change_price(cmd.price.to_domain())
    return ctx.save(_result(product), product)
