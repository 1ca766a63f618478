#!/usr/bin/env bash
# Issue 12's goals, one set of runs: the six benchmarks behind docs/BENCHMARKS.md's goals
# table, one after another at the same commit, each filing its own table. Run it on a quiet
# machine (nothing else busy: `uptime` near 0) from the repository root, in the venv:
#     bash tests/bench/goals.sh 2>&1 | tee /tmp/goals.log
# About 7 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M') UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {
    local started=$SECONDS
    echo "== $*"
    python "$@"
    echo "== $1: $((SECONDS - started)) s, load after: $(cut -d' ' -f1 /proc/loadavg)"
}
run tests/bench/bench_commands.py --clients 8 32 --seconds 5
run tests/bench/bench_append.py --clients 8 32
run tests/bench/bench_queries.py --seconds 5
run tests/bench/bench_rebuild.py --events 20000 --samples 100
run tests/bench/bench_flash_sale.py
run tests/bench/bench_shoppers.py --shoppers 400 --seconds 30
