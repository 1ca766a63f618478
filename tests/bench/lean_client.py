"""A lean HTTP/1.1 client for the load generators of tests/bench: one keep-alive connection
per simulated user on asyncio streams, so that a generator on the same cores as the server
under test takes little CPU from it (and reports what it takes)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.parse
from typing import Any

import httpx
import msgspec


class LeanResponse:
    """What the load generators read of a response."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return msgspec.json.decode(self.content)


class LeanClient:
    """One keep-alive HTTP/1.1 connection on asyncio streams, one request at a time: no
    connection pool, no URL model, no header objects, so a load generator on the same
    cores as the server takes little from it. Enough HTTP for tillroll's JSON API (answers
    with Content-Length or chunked); a request that finds its reused connection closed by the
    server is sent again once on a new one (the API's POSTs carry idempotency keys)."""

    def __init__(self, base: str, timeout: float = 10.0) -> None:
        url = httpx.URL(base)
        self.host, self.port = url.host, url.port or 80
        self.timeout = timeout
        self._reader: Any = None
        self._writer: Any = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> LeanResponse:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        body = b"" if json is None else msgspec.json.encode(json)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if json is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        elif method != "GET":
            head.append("Content-Length: 0")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        reused = self._writer is not None
        try:
            return await asyncio.wait_for(self._exchange(raw), self.timeout)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            await self.aclose()
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            return await asyncio.wait_for(self._exchange(raw), self.timeout)
        except BaseException:
            await self.aclose()
            raise

    async def get(self, path: str, **kwargs: Any) -> LeanResponse:
        return await self.request("GET", path, **kwargs)

    async def _exchange(self, raw: bytes) -> LeanResponse:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            sock = self._writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer.write(raw)
        reader = self._reader
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            content = b"".join(parts)
        else:
            content = b""
        if headers.get("connection") == "close":
            await self.aclose()
        return LeanResponse(int(status_line.split(" ", 2)[1]), headers, content)

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
