"""ASGI entry point for multi-process serving: each worker opens its own runtime from the
environment (the parent `tillroll serve` has resolved the URLs and runs the projections)."""

from __future__ import annotations

import socket
from typing import Any

from litestar import Litestar
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from tillroll.bootstrap import Runtime, http_app
from tillroll.infra.settings import Settings
from tillroll.logs import configure_logging


def create() -> Litestar:
    settings = Settings.from_env()
    configure_logging(settings)  # a worker process: uvicorn was told to leave logging alone
    runtime = Runtime.open(settings)
    app = http_app(runtime, run_projections=False)
    app.on_shutdown.append(runtime.close)
    return app


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection.

    With `--workers N` uvicorn binds the listening socket itself, without naming the TCP
    protocol, and asyncio then skips TCP_NODELAY on accepted connections: a response written
    in two segments waits for the client's delayed ACK, about 40 ms per keep-alive request."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
