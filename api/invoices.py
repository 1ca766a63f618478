"""Invoice routes: an order's invoice as JSON or, with `Accept: application/pdf`, as a PDF;
and the VAT rates staff set (per category, and the default for the others)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from tillroll.aggregates.catalog.category import Slug
from tillroll.aggregates.invoicing.vat import DEFAULT
from tillroll.api.auth import AUDITOR, CUSTOMER, STAFF, roles
from tillroll.api.requests import command_response, run_command
from tillroll.commands.context import Principal
from tillroll.commands.invoicing import SetVatRate, VatRateBody, VatRateSet
from tillroll.commands.ports import EventStorePort
from tillroll.queries import invoices as q

PDF = "application/pdf"


def _wants_pdf(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() == PDF for part in accept.split(","))


class InvoicesController(Controller):
    tags = ["invoices"]

    @get(
        "/v1/orders/{order_id:uuid}/invoice",
        guards=[roles(CUSTOMER, STAFF, AUDITOR)],
        sync_to_thread=True,
        responses={
            200: ResponseSpec(
                data_container=q.InvoiceView,
                description="The invoice (JSON), or with `Accept: application/pdf` the PDF.",
            )
        },
    )
    def invoice(
        self, order_id: FromPath[UUID], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[q.InvoiceView | bytes]:
        """The order's invoice, with its lines, VAT per rate, addresses as at payment and
        credit notes; 404 until the `invoices` reaction has issued it (just after payment).
        A customer sees only their own."""
        invoice = q.invoice_of(store, order_id)
        principal = request.user
        assert isinstance(principal, Principal)
        if principal.is_customer and invoice.customer_id != principal.subject:
            raise NotFoundException(f"order {order_id} has no invoice (yet)")
        if _wants_pdf(request):
            # Imported here: reportlab takes 0.1-0.6 s to import, which every process built
            # by the composition root (projectors, workers, the CLI) would otherwise pay.
            from tillroll.api.invoice_pdf import render_invoice

            return Response(
                render_invoice(invoice),
                media_type=PDF,
                headers={"Content-Disposition": f'inline; filename="invoice-{invoice.number}.pdf"'},
            )
        return Response(invoice)

    @get("/v1/tax/rates", guards=[roles(STAFF, AUDITOR)], sync_to_thread=True)
    def rates(self, store: NamedDependency[EventStorePort]) -> q.VatRatesView:
        """The VAT rates now (basis points: 1900 = 19 %) and every change with its start."""
        return q.vat_rates(store, datetime.now(UTC))

    @put("/v1/tax/rates/{category:str}", guards=[roles(STAFF)], sync_to_thread=True)
    def set_rate(
        self,
        category: FromPath[Slug],
        data: JSONBody[VatRateBody],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[VatRateSet]:
        """A category's VAT rate from `effective_from` (default: now). Invoices use the rate
        that applied when their order was paid."""
        command = SetVatRate(category, data.rate, data.effective_from)
        return command_response(run_command(request, store, command))

    @put("/v1/tax/default-rate", guards=[roles(STAFF)], sync_to_thread=True)
    def set_default_rate(
        self, data: JSONBody[VatRateBody], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[VatRateSet]:
        """The rate of every category without one of its own (until set: 19 %)."""
        command = SetVatRate(DEFAULT, data.rate, data.effective_from)
        return command_response(run_command(request, store, command))
