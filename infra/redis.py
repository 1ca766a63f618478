"""Redis (or valkey) client: one pooled client per process."""

from __future__ import annotations

import redis


def redis_client(url: str, *, max_connections: int = 64) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        max_connections=max_connections,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
