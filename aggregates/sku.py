"""Stock-keeping unit codes: the key by which products and stock are addressed."""

from __future__ import annotations

import re

from tillroll.aggregates.errors import InvalidValue

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_SKU = re.compile(SKU_PATTERN)


def check_sku(sku: str) -> str:
    if not isinstance(sku, str) or not _SKU.match(sku):
        raise InvalidValue("sku must be 1-64 characters of A-Z a-z 0-9 - _ .", field="sku")
    return sku
