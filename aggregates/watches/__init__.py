"""Price watches: who wants to hear of a product's price drop."""
