"""Copies of cached aggregates are independent of the cached original."""

from __future__ import annotations

import copy
from uuid import uuid4

from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money


def test_a_copied_stock_item_reserves_without_touching_the_original() -> None:
    item = InventoryItem.create("MUG")
    item.receive(10)
    item.collect_events()
    clone = copy.deepcopy(item)
    clone.reserve(uuid4(), 3)
    assert (item.reserved, item.reservations, len(item.collect_events())) == (0, {}, 0)
    assert clone.reserved == 3 and len(clone.collect_events()) == 1


def test_a_copied_product_keeps_its_own_tags() -> None:
    product = Product.create("MUG", "Mug", Money(1200, "EUR"), tags=["kitchen"])
    clone = copy.deepcopy(product)
    clone.tags.append("sale")
    assert product.tags == ["kitchen"] and clone.version == product.version
