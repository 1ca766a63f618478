"""The HTTP server's connections: responses are not held back by Nagle's algorithm."""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from tillroll.cli import NO_DELAY_HTTP


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError("no request is sent")


async def _accepted_nodelay(http: str) -> int:
    config = uvicorn.Config(_app, http=http, lifespan="off", log_level="warning")
    config.load()
    protocols: list[Any] = []

    def factory() -> Any:
        protocol = functools.partial(
            config.http_protocol_class, config=config, server_state=ServerState(), app_state={}
        )()
        protocols.append(protocol)
        return protocol

    # Bound the way uvicorn binds it for `--workers N`: no protocol number given.
    listener = socket.socket(family=socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.get_running_loop().create_server(factory, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        while not protocols:
            await asyncio.sleep(0.01)
        accepted = protocols[0].transport.get_extra_info("socket")
        value = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return int(value)
    finally:
        server.close()


def test_uvicorn_alone_leaves_nagle_on_for_a_socket_it_bound_itself() -> None:
    assert asyncio.run(_accepted_nodelay("h11")) == 0  # why NoDelayHTTP exists


def test_tillroll_serve_turns_nagle_off_on_every_connection() -> None:
    assert asyncio.run(_accepted_nodelay(NO_DELAY_HTTP)) != 0
