"""Before and after each change on the HTTP path, in one run: the same tillroll app served
four ways, one change added at a time, next to a bare Litestar route on both server stacks.

    python tests/bench/bench_http_stack.py --seconds 5

Variants (each a server process of its own, all up at once, over the same database and
read models; the routes are measured one variant after another, route by route, so the
machine's drift touches every variant alike):

- **before** — Litestar's PrometheusMiddleware (`group_path=True`), Litestar's JWTAuth
  verifying the token on every request, uvicorn on asyncio + h11 (what main served).
- **+ lean metrics** — tillroll.api.http_metrics instead (same metric names).
- **+ JWT once** — tokens verified once per process (tillroll.api.auth.VerifiedTokens).
- **+ uvloop, httptools** — the same app on uvicorn's `[standard]` stack.

Routes: the product card (`GET /v1/products/{sku}`, anonymous), the stock level (`GET
/v1/inventory/{sku}`, staff token: the JWT path), both with `wrk -t2 -c64`; place-order
(`POST /v1/orders`, a customer token) with `wrk -t2 -c8` and a Lua script. The bare route is
this module's constant Litestar app on each stack. Read models are brought up to date once
after seeding by `tillroll projections run`, which is then stopped; the variant servers do
not follow the log (the orders they write are not what is measured on the reads).

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md under "## HTTP stack, change by change" (unless --no-write). Needs `wrk`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import httpx
import msgspec
from harness import Stocked
from litestar import Litestar, get
from tillroll.infra.settings import Settings

from tillroll.bootstrap import Runtime

HEADING = "## HTTP stack, change by change"
PASSWORD = "bench-password"
SKU = "STK-001"
CENTS = 1500
VARIANTS = {
    "before": ("litestar", "plain", "plain"),
    "+ lean metrics": ("lean", "plain", "plain"),
    "+ JWT once": ("lean", "cached", "plain"),
    "+ uvloop, httptools": ("lean", "cached", "standard"),
}
"""name -> (metrics middleware, JWT verification, uvicorn stack)"""
STACKS = {"plain": ("asyncio", "h11"), "standard": ("uvloop", "httptools")}


class Constant(msgspec.Struct):
    sku: str
    name: str
    price: int
    currency: str
    available: int
    in_stock: bool


@get("/constant")
async def constant() -> Constant:
    return Constant("BARE-1", "A constant", 1999, "EUR", 42, True)


# -- the servers ---------------------------------------------------------------------------
def protocol(http: str) -> type:
    """uvicorn's h11 or httptools protocol with TCP_NODELAY, as tillroll.asgi.NoDelayHTTP."""
    if http == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol as base
    else:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base

    class NoDelay(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    return NoDelay


def serve(variant: str, port: int) -> int:
    """Serve tillroll (or the bare app) as `variant` says; settings from the environment."""
    import uvicorn

    if variant.startswith("bare "):
        app: Any = Litestar(route_handlers=[constant])
        loop, http = STACKS[variant.removeprefix("bare ")]
    else:
        import tillroll.api.app as app_module
        from litestar.plugins.prometheus import PrometheusConfig
        from litestar.security.jwt import JWTAuth

        from tillroll.bootstrap import http_app

        metrics, jwt, stack = VARIANTS[variant]
        loop, http = STACKS[stack]
        if metrics == "litestar":

            class LitestarMetrics:
                def __init__(self, app_name: str) -> None:
                    self.middleware = PrometheusConfig(
                        app_name=app_name, group_path=True
                    ).middleware

            app_module.HttpMetrics = LitestarMetrics  # type: ignore[misc,assignment]
        if jwt == "plain":
            cached = app_module.jwt_auth

            def plain_jwt_auth(secret: str, ttl_seconds: int) -> Any:
                found = cached(secret, ttl_seconds)
                from litestar.security.jwt import JWTAuthenticationMiddleware

                found.authentication_middleware_class = JWTAuthenticationMiddleware
                assert isinstance(found, JWTAuth)
                return found

            app_module.jwt_auth = plain_jwt_auth  # type: ignore[assignment]
        runtime = Runtime.open(Settings.from_env())
        app = http_app(runtime, run_projections=False)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop=loop,
        http=protocol(http),
    )
    return 0


@dataclass
class Server:
    variant: str
    base: str
    pid: int


@contextlib.contextmanager
def servers(settings: Settings) -> Iterator[dict[str, Server]]:
    with contextlib.ExitStack() as stack:
        found = {}
        for variant in [*VARIANTS, "bare plain", "bare standard"]:
            port = harness.free_port()
            argv = [sys.executable, str(Path(__file__).resolve()), "--serve", variant]
            argv += ["--port", str(port)]
            path = "/constant" if variant.startswith("bare") else "/health"
            served = stack.enter_context(
                harness.child_server(argv, port, path, harness.clean_env(settings))
            )
            found[variant] = Server(variant, served.base, served.pid)
        yield found


# -- load ----------------------------------------------------------------------------------
@dataclass
class Result:
    rate: float
    p99: float
    errors: int
    cpu_us: float


_TIME = r"([0-9.]+)(us|ms|s)"
_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    url: str, seconds: float, connections: int, pid: int, headers: dict[str, str], script: str
) -> Result:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if script:
        argv += ["-s", script]
    before = harness.cpu_seconds(pid)
    done = subprocess.run([*argv, url], capture_output=True, text=True, check=True)
    cpu = harness.cpu_seconds(pid) - before
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"([0-9]+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+" + _TIME, out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: ([0-9]+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    return Result(
        rate,
        float(p99.group(1)) * _MS[p99.group(2)] if p99 else 0.0,
        errors,
        cpu / max(requests, 1) * 1e6,
    )


def median(found: list[Result]) -> Result:
    """Each figure's median over the rounds (errors: their sum)."""
    return Result(
        statistics.median(r.rate for r in found),
        statistics.median(r.p99 for r in found),
        sum(r.errors for r in found),
        statistics.median(r.cpu_us for r in found),
    )


def profile(server: Server, path: str, seconds: float, scratch: Path) -> None:
    """py-spy the server while wrk loads `path`; print the share of samples in which each
    of the busiest functions is on the stack (inclusive), idle samples left out."""
    out = scratch / "profile.txt"
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "-p",
            str(server.pid),
            "-d",
            str(round(seconds)),
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    wrk(server.base + path, seconds, 64, server.pid, {}, "")
    spy.wait()
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    roots: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        root = ";".join(frames[:3])
        roots[root] = roots.get(root, 0) + int(count)
    print(f"py-spy, {server.variant}, {path}: {total} samples", file=sys.stderr)
    shown = (("threads (first frames)", roots), ("on the stack", inclusive), ("own time", own))
    for title, found in shown:
        print(f"-- {title}", file=sys.stderr)
        for frame, count in sorted(found.items(), key=lambda kv: -kv[1])[:30]:
            print(f"{count / max(total, 1):6.1%}  {frame}", file=sys.stderr)


def order_script(directory: Path) -> str:
    body = json.dumps(harness.order_body([(SKU, 1, CENTS)]))
    path = directory / "order.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        # wrk counts a 201 as success; a 409 or 5xx would show as non-2xx.
    )
    return str(path)


def seed(rt: Runtime, settings: Settings, base: str) -> tuple[str, str]:
    """A product with plenty of stock and two accounts; read models caught up once."""
    harness.seed_products(rt.store, [Stocked(SKU, CENTS, 10**9)])
    accounts = [("staff@bench.example", "staff"), ("buyer@bench.example", "customer")]
    harness.open_accounts(rt.store, accounts, PASSWORD, rt.credentials)
    proc = subprocess.run(
        harness.tillroll_cli("projections", "run", "--once"),
        env=harness.clean_env(settings),
        check=True,
    )
    assert proc.returncode == 0
    staff = harness.login(base, "staff@bench.example", PASSWORD)
    buyer = harness.login(base, "buyer@bench.example", PASSWORD)
    return staff, buyer


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per route and variant (5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians reported (3)")
    parser.add_argument(
        "--profile", metavar="VARIANT", help="also py-spy that variant under the card load"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port)
    if shutil.which("wrk") is None:
        print("bench_http_stack: wrk is not on the PATH", file=sys.stderr)
        return 2

    results: dict[tuple[str, str], Result] = {}
    with (
        harness.bench_settings("http", args) as settings,
        contextlib.closing(Runtime.open(settings)) as rt,
        servers(settings) as up,
        tempfile.TemporaryDirectory() as scratch,
    ):
        staff, buyer = seed(rt, settings, up["before"].base)
        script = order_script(Path(scratch))
        routes = {
            "card": (f"/v1/products/{SKU}", {}, 64, ""),
            "stock (staff JWT)": (
                f"/v1/inventory/{SKU}",
                {"Authorization": f"Bearer {staff}"},
                64,
                "",
            ),
            "place-order": ("/v1/orders", {"Authorization": f"Bearer {buyer}"}, 8, script),
        }
        rounds: dict[tuple[str, str], list[Result]] = {}
        for n in range(args.rounds):
            for route, (path, headers, connections, lua) in routes.items():
                for variant, server in up.items():
                    bare = variant.startswith("bare")
                    if bare and route != "card":
                        continue
                    url = server.base + ("/constant" if bare else path)
                    if n == 0 and not lua:
                        check = httpx.get(url, headers=headers, timeout=10)
                        if check.status_code != 200:
                            raise RuntimeError(f"{variant} {route}: {check.status_code}")
                    wrk(url, 1, connections, server.pid, headers, lua)  # warm-up
                    found = wrk(url, args.seconds, connections, server.pid, headers, lua)
                    rounds.setdefault((route, variant), []).append(found)
                    print(
                        f"round {n + 1} {route:<18} {variant:<22} {found.rate:8,.0f}/s"
                        f" p99 {found.p99:6.1f} ms cpu {found.cpu_us:5,.0f} µs/req"
                        f" errors {found.errors}",
                        file=sys.stderr,
                    )
        results = {key: median(found) for key, found in rounds.items()}
        if args.profile:
            path, headers, connections, _ = routes["card"]
            profile(up[args.profile], path, args.seconds, Path(scratch))

    command = (
        f"python tests/bench/bench_http_stack.py --seconds {args.seconds:g} --rounds {args.rounds}"
    )
    bare = {stack: results[("card", f"bare {stack}")].rate for stack in STACKS}
    lines = [
        harness.heading("HTTP stack"),
        "",
        f"`{command}` — {harness.machine()}; wrk on the same cores; medians of the rounds."
        " ÷ before: the same route in the before variant; ÷ bare: a bare Litestar route on the"
        " same uvicorn stack.",
        "",
        "| route | variant | req/s | ÷ before | ÷ bare | p99 ms | server CPU µs/req | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (route, variant), found in results.items():
        before = results.get((route, "before"))
        stack = (
            variant.removeprefix("bare ") if variant.startswith("bare") else VARIANTS[variant][2]
        )
        ratio = f"{found.rate / before.rate:.2f}" if before else "—"
        lines.append(
            f"| {route} | {variant} | {found.rate:,.0f} | {ratio} |"
            f" {found.rate / bare[stack]:.2f} | {found.p99:.1f} | {found.cpu_us:,.0f} |"
            f" {found.errors} |"
        )
    lines.append("")
    errors = sum(found.errors for found in results.values())
    harness.publish(HEADING, "\n".join(lines), not (args.no_write or errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
