"""Product reviews by customers who received the product."""
