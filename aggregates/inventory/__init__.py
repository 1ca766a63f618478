"""Inventory context: stock per SKU, reserved for orders and committed on shipment."""
