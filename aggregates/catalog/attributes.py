"""What a product carries besides its name and price: images, attributes, customer tiers.

The constraints are checked where a request body is decoded (a 400 naming the field) and
again by the Product aggregate (a 422), whoever calls."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from tillroll.aggregates.errors import InvalidValue
from tillroll.aggregates.values import stored_as

MAX_IMAGES = 20
MAX_ATTRIBUTES = 30

BASE_TIER = "base"
"""The price everyone pays unless their tier has a price of its own."""
TIERS = ("bronze", "silver", "gold")
"""Customer tiers that may have a price of their own."""

# `(?!\n)`: Python's `$` also matches before a final newline.
URL_PATTERN = r"^https?://[^\s\x00-\x1f]{1,2000}$(?!\n)"
ATTRIBUTE_PATTERN = r"^[a-z][a-z0-9_-]{0,49}$(?!\n)"
TIER_PATTERN = r"^(bronze|silver|gold)$(?!\n)"

ImageUrl = Annotated[
    str, msgspec.Meta(pattern=URL_PATTERN, examples=["https://cdn.example.com/mug.jpg"])
]
AltText = Annotated[str, msgspec.Meta(max_length=300)]
AttributeName = Annotated[str, msgspec.Meta(pattern=ATTRIBUTE_PATTERN, examples=["colour"])]
AttributeValue = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["black"])]
Tier = Annotated[str, msgspec.Meta(pattern=TIER_PATTERN, examples=["gold"])]

_URL = re.compile(URL_PATTERN)
_ATTRIBUTE = re.compile(ATTRIBUTE_PATTERN)


@stored_as("product_image")
class ProductImage(msgspec.Struct, frozen=True):
    url: ImageUrl
    alt: AltText = ""


Images = Annotated[list[ProductImage], msgspec.Meta(max_length=MAX_IMAGES)]
Attributes = Annotated[dict[AttributeName, AttributeValue], msgspec.Meta(max_length=MAX_ATTRIBUTES)]


def check_images(images: list[ProductImage]) -> list[ProductImage]:
    if len(images) > MAX_IMAGES:
        raise InvalidValue(f"a product has at most {MAX_IMAGES} images", field="images")
    for i, image in enumerate(images):
        if not isinstance(image.url, str) or not _URL.match(image.url):
            raise InvalidValue("must be an http(s) URL", field=f"images[{i}].url")
        if not isinstance(image.alt, str) or len(image.alt) > 300:
            raise InvalidValue("alt text is at most 300 characters", field=f"images[{i}].alt")
    return list(images)


def check_attributes(attributes: dict[str, str]) -> dict[str, str]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidValue(f"a product has at most {MAX_ATTRIBUTES} attributes", field="attributes")
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTRIBUTE.match(name):
            raise InvalidValue(
                "attribute names are 1-50 of a-z 0-9 _ - starting with a letter",
                field="attributes",
            )
        if not isinstance(value, str) or not 1 <= len(value) <= 100:
            raise InvalidValue("must be 1-100 characters", field=f"attributes.{name}")
    return dict(sorted(attributes.items()))


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise InvalidValue(f"tier must be one of {', '.join(TIERS)}", field="tier")
    return tier
