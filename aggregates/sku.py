"""Stock-keeping unit codes: the key by which products and stock are addressed."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from tillroll.aggregates.errors import InvalidValue

# `(?!\n)`: Python's `$` also matches before a final newline, and "MUG\n" is not a SKU.
SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$(?!\n)"
_SKU = re.compile(SKU_PATTERN)

Sku = Annotated[
    str,
    msgspec.Meta(
        pattern=SKU_PATTERN, description="1-64 of A-Z a-z 0-9 - _ .", examples=["MUG-CLASSIC"]
    ),
]


def check_sku(sku: str) -> str:
    if not isinstance(sku, str) or not _SKU.match(sku):
        raise InvalidValue("sku must be 1-64 characters of A-Z a-z 0-9 - _ .", field="sku")
    return sku
