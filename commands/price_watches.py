"""Price-watch commands: watch a product (optionally down to a target price), stop
watching, and, in the worker, e-mail the watchers of a price drop.

Once per drop: the `price_watches` reaction enqueues one job per PriceChanged event that
lowers the price (job id from the product and the event's version: rq refuses a second),
and every message's Message-ID names the product, that version and the customer, so a
retried job skips whoever was mailed already (the mailer refuses a delivered Message-ID)."""

from __future__ import annotations

from uuid import UUID

import msgspec
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import InvalidValue, NotFound
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.money import Money
from tillroll.aggregates.sku import Sku
from tillroll.aggregates.watches.watchers import ProductWatchers, alerts_for
from tillroll.commands.catalog import load_product
from tillroll.commands.context import CommandContext
from tillroll.commands.ports import OutgoingMail


class WatchBody(msgspec.Struct, frozen=True):
    """The body of POST /v1/me/watches."""

    sku: Sku
    target_price: Money | None = None
    """E-mail me when the price drops to this or below; none: on any drop."""


class WatchPrice(msgspec.Struct, frozen=True):
    customer_id: UUID
    sku: str
    target_price: Money | None = None


class StopWatching(msgspec.Struct, frozen=True):
    customer_id: UUID
    sku: str


class WatchChanged(msgspec.Struct):
    sku: str
    watching: bool
    position: int = 0


class SendPriceDropAlerts(msgspec.Struct, frozen=True):
    sku: str
    version: int
    """The version of the product's PriceChanged event: one round of alerts per drop."""
    price: Money
    previous: Money


class AlertsSent(msgspec.Struct):
    sent: int
    """Messages delivered by this run (a repeated job delivers none again)."""
    position: int = 0


def watch_price(cmd: WatchPrice, ctx: CommandContext) -> WatchChanged:
    try:
        product = load_product(ctx, cmd.sku)
    except NotFound:
        # A body naming no product is unprocessable (422), as an order's unknown SKU is.
        raise InvalidValue(f"product {cmd.sku!r} does not exist", field="sku") from None
    target = cmd.target_price
    if target is not None and target.currency != product.price.currency:
        raise InvalidValue(
            f"the target price is in {product.price.currency}", field="target_price.currency"
        )
    watchers_id = ProductWatchers.create_id(cmd.sku)
    watchers = ctx.load_many([watchers_id]).get(watchers_id) or ProductWatchers.start(cmd.sku)
    watchers.watch(
        cmd.customer_id, None if target is None else target.amount, product.price.currency
    )
    return ctx.save(WatchChanged(cmd.sku, True), watchers)


def stop_watching(cmd: StopWatching, ctx: CommandContext) -> WatchChanged:
    watchers_id = ProductWatchers.create_id(cmd.sku)
    watchers = ctx.load_many([watchers_id]).get(watchers_id)
    if watchers is None:
        raise NotFound(f"you are not watching {cmd.sku!r}", field="sku")
    watchers.unwatch(cmd.customer_id)
    return ctx.save(WatchChanged(cmd.sku, False), watchers)


def _money(money: Money) -> str:
    return f"{money.amount // 100}.{money.amount % 100:02d} {money.currency}"


def send_price_drop_alerts(cmd: SendPriceDropAlerts, ctx: CommandContext) -> AlertsSent:
    if ctx.mail is None:
        raise RuntimeError("no mailer is wired into this process")
    watchers_id = ProductWatchers.create_id(cmd.sku)
    found = ctx.load_many([watchers_id, Product.create_id(cmd.sku)])
    watchers: ProductWatchers | None = found.get(watchers_id)
    product: Product | None = found.get(Product.create_id(cmd.sku))
    if watchers is None or product is None:
        return AlertsSent(0)
    sent = 0
    for customer_id in alerts_for(watchers.watchers, cmd.price.amount, cmd.previous.amount):
        try:
            account: Account = ctx.load(customer_id)
        except NotFound:
            continue  # an account that is gone
        mail = OutgoingMail(
            message_id=f"<price-drop.{product.id}.{cmd.version}.{customer_id}@tillroll>",
            to=account.email,
            subject=f"{product.name} is now {_money(cmd.price)}",
            text=(
                f"Hello {account.name},\n\nthe price of {product.name} ({cmd.sku}) dropped "
                f"from {_money(cmd.previous)} to {_money(cmd.price)}.\n"
            ),
            headers={"X-Tillroll-Sku": cmd.sku},
        )
        sent += bool(ctx.mail.send(mail))
    return AlertsSent(sent)
