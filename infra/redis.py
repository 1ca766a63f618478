"""Redis (or valkey) client: one pooled client per process."""

from __future__ import annotations

import redis
import redis.asyncio


def redis_client(url: str, *, max_connections: int = 64) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        max_connections=max_connections,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


def async_redis_client(url: str, *, max_connections: int = 64) -> redis.asyncio.Redis:
    """The same, for handlers that run on the event loop (one per loop). Its pool makes a
    request wait for a free connection rather than fail when all are busy."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return redis.asyncio.Redis(connection_pool=pool)
