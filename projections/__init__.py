"""The read side's writers: one module per read model, and the one runner that feeds them."""
