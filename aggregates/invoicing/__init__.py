"""Invoicing: VAT rates, gap-free document series, invoices and their credit notes."""
