"""What the hardening costs on the read path: the product card served by `tillroll serve`
three ways, one guard added at a time, in one run.

    python tests/bench/bench_guards.py --seconds 5

- **unguarded**: the per-client rate limit off and the access log off (how the other
  benchmarks serve, since their load generator is one client address);
- **+ rate limit** (the default configuration): every request counted in Redis (a limit too
  high to refuse anything here: its cost, not its refusals);
- **+ access log** (`TILLROLL_ACCESS_LOG=1`): one `tillroll.access` line per request,
  written to a file.

Each variant is its own `tillroll serve` over the same database and read models, measured
with `wrk -t2 -c64` (needs `wrk`), one after the other, `--rounds` times, medians reported,
with the server's CPU per request. Not part of the test suite. Prints a table and appends it,
with this command, to docs/BENCHMARKS.md under "## The guards' cost" (unless --no-write).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

from harness import (
    Stocked,
    bench_runtime,
    child_server,
    clean_env,
    cpu_by_process,
    free_port,
    heading,
    machine,
    parser,
    publish,
    seed_products,
    tillroll_cli,
)

VARIANTS = [
    ("unguarded", {"rate_limit": "off", "access_log": False}),
    ("+ rate limit (the default)", {"rate_limit": "1000000000/minute", "access_log": False}),
    ("+ access log", {"rate_limit": "1000000000/minute", "access_log": True}),
]
SKU = "GUARD-MUG"


def wrk(url: str, seconds: float, pid: int) -> tuple[float, float, float]:
    """(requests/s, p99 ms, server CPU µs per request)."""
    before = cpu_by_process(pid)
    done = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = sum(t - before.get(p, 0.0) for p, t in cpu_by_process(pid).items())
    total = int(re.search(r"([0-9]+) requests in", done.stdout).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", done.stdout)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"errors during the run:\n{done.stdout}")
    return rate, p99_ms, cpu / max(total, 1) * 1e6


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--seconds", type=float, default=5.0, help="per variant and round (5)")
    options.add_argument("--rounds", type=int, default=3, help="rounds; medians reported (3)")
    args = options.parse_args()
    with bench_runtime("guards", args) as rt:
        seed_products(rt.store, [Stocked(SKU, 1299, 100)])
        rt.runner.catch_up()
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in VARIANTS}
        logs = Path(tempfile.mkdtemp(prefix="tillroll-guards-"))
        for _ in range(args.rounds):
            for name, overrides in VARIANTS:
                settings = replace(rt.settings, run_projections=False, **overrides)
                env = clean_env(settings)
                if settings.access_log:  # the access log writes at INFO
                    env["TILLROLL_LOG_LEVEL"] = "INFO"
                port = free_port()
                argv = tillroll_cli("serve", "--port", str(port), "--no-worker")
                with (
                    (logs / "serve.log").open("ab") as log,
                    child_server(argv, port, "/health", env, log) as served,
                ):
                    url = f"{served.base}/v1/products/{SKU}"
                    wrk(url, 1, served.pid)  # warm-up
                    results[name].append(wrk(url, args.seconds, served.pid))
    base = statistics.median(r[0] for r in results[VARIANTS[0][0]])
    rows = [
        "| variant | card GET/s | ÷ unguarded | p99 ms | server CPU µs/request |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, _ in VARIANTS:
        rate = statistics.median(r[0] for r in results[name])
        p99 = statistics.median(r[1] for r in results[name])
        cpu = statistics.median(r[2] for r in results[name])
        rows.append(f"| {name} | {rate:,.0f} | {rate / base:.2f} | {p99:.1f} | {cpu:.0f} |")
    table = "\n".join(rows)
    command = (
        f"python tests/bench/bench_guards.py --seconds {args.seconds:g} --rounds {args.rounds}"
    )
    text = f"{heading('The guards cost')}\n`{command}` — {machine()}\n\n{table}\n"
    publish("## The guards' cost", text, not args.no_write)


if __name__ == "__main__":
    main()
