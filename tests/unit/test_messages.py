"""Command messages are the wire shapes: a body decodes straight into them, and their
constraints reject bad input naming the field, before any handler runs."""

from __future__ import annotations

import re

import msgspec
import pytest
from tillroll.aggregates.errors import InvalidValue
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine
from tillroll.commands.catalog import CreateProduct
from tillroll.commands.ordering import OrderCreate

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "1",
    "country": "DE",
}


def decode(body: object, type_: type) -> object:
    return msgspec.json.decode(msgspec.json.encode(body), type=type_, strict=True)


def test_a_product_body_decodes_into_the_command_with_domain_values() -> None:
    body = {"sku": "MUG", "name": "Mug", "price": {"amount": 1200, "currency": "EUR"}}

    command = decode(body, CreateProduct)

    assert command == CreateProduct("MUG", "Mug", Money(1200, "EUR"))


def test_an_order_body_decodes_into_lines_and_an_address() -> None:
    line = {"sku": "MUG", "quantity": 2, "unit_price": {"amount": 1200, "currency": "EUR"}}

    body = decode({"lines": [line], "shipping_address": ADDRESS}, OrderCreate)

    assert body == OrderCreate(
        [OrderLine("MUG", 2, Money(1200, "EUR"))], Address("Ada", "1 Main St", "Berlin", "1", "DE")
    )


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("sku", "MUG\n", "$.lines[0].sku"),
        ("quantity", "2", "$.lines[0].quantity"),
        ("quantity", 10_001, "$.lines[0].quantity"),
        ("unit_price", {"amount": 1, "currency": "EUR\n"}, "$.lines[0].unit_price.currency"),
        ("unit_price", {"amount": -1, "currency": "EUR"}, "$.lines[0].unit_price.amount"),
    ],
)
def test_a_bad_line_is_rejected_naming_its_field(field: str, value: object, path: str) -> None:
    line = {"sku": "MUG", "quantity": 2, "unit_price": {"amount": 1, "currency": "EUR"}}
    line[field] = value
    with pytest.raises(msgspec.ValidationError, match=re.escape(f"at `{path}`")):
        decode({"lines": [line], "shipping_address": ADDRESS}, OrderCreate)


def test_a_country_with_a_trailing_newline_is_rejected() -> None:
    line = {"sku": "MUG", "quantity": 2, "unit_price": {"amount": 1, "currency": "EUR"}}
    address = {**ADDRESS, "country": "GB\n"}
    with pytest.raises(msgspec.ValidationError, match=re.escape("at `$.shipping_address.country`")):
        decode({"lines": [line], "shipping_address": address}, OrderCreate)


def test_an_unknown_currency_is_the_domains_invalid_value() -> None:
    body = {"sku": "MUG", "name": "Mug", "price": {"amount": 1, "currency": "XXQ"}}
    with pytest.raises(InvalidValue) as err:
        decode(body, CreateProduct)
    assert err.value.field == "currency"
