"""An invoice issued late (its reaction was down when the order was paid) still holds what
applied at payment: the customer's billing address and the VAT rate of that moment, not
the ones changed since."""

from __future__ import annotations

from uuid import UUID

from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.invoicing.invoice import Invoice
from tillroll.aggregates.ordering.order import Address, Order
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.customers import AddAddress, ChangeAddress, ChooseDefaultAddress
from tillroll.commands.invoicing import SetVatRate

from tests.conftest import open_accounts
from tests.integration.workload import ADDRESS, create_product, order
from tillroll.bootstrap import Runtime

CUSTOMER = Account.create_id("customer@example.com")
OFFICE = Address("Ada Ltd", "9 Billing Rd", "Hamburg", "20095", "DE")
MOVED = Address("Ada Ltd", "1 New Rd", "Munich", "80331", "DE")


def test_a_late_invoice_holds_the_billing_address_and_rate_of_its_payment(
    runtime: Runtime,
) -> None:
    open_accounts(runtime)
    as_customer = CommandContext(runtime.store, principal=Principal(str(CUSTOMER), "customer"))
    added = dispatch(AddAddress(CUSTOMER, OFFICE), as_customer)
    office = UUID(added.address_id)
    dispatch(ChooseDefaultAddress(CUSTOMER, office, "billing"), as_customer)
    create_product(runtime.store, "MUG", 1190, 2)
    order_id = UUID(order(runtime.store, CUSTOMER, [("MUG", 1, 1190)]))
    paid: Order = runtime.store.get(order_id)
    paid.mark_paid("pi_test_1", paid.total)
    runtime.store.save(paid, meta={"principal": "test", "role": "staff", "request_id": "t"})

    # After the payment, before the invoice: the customer moves, the default rate changes.
    dispatch(ChangeAddress(CUSTOMER, office, MOVED), as_customer)
    dispatch(SetVatRate("", 2500), CommandContext(runtime.store))
    runtime.runner.catch_up()  # the reaction resumes

    invoice: Invoice = runtime.store.get(Invoice.create_id(order_id))
    assert invoice.billing_address == OFFICE
    assert invoice.shipping_address == ADDRESS
    (line,) = invoice.lines
    assert (line.rate, line.net, line.vat) == (1900, 1000, 190)
