"""HTTP: the Litestar app, a thin controller per area, auth guards and error mapping."""
