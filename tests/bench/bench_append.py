"""The bare append (one event, a new stream) per second, next to raw one-row commits in the
same run, 5 s per row, at 1 / 8 / 32 client threads of one process:

  (a) before (issue 11): the append lock held through commit and `pg_notify`, in one
      statement per append (`TillrollRecorder.append` on an autocommit connection);
  (b) NOTIFY out of the append (a notifier thread after commits), each append alone;
  (c) tillroll now: (b) plus group commit (concurrent appends of the process share one
      transaction, so one WAL flush), one batch in flight; (c2) the same with two;
  (d) raw one-row INSERT commits (no lock, no NOTIFY); the commit latency the lock-through-
      commit cap follows from is 1 / its one-client rate;
  (e) with `--sequencer`: issue 11's rejected design, prototyped: lock-free inserts and one
      sequencer thread that numbers committed rows below `pg_snapshot_xmin` in (xid, id)
      order into a dense position table, in batches (plus the latency until a row has its
      position).

Each row also gives WAL fsyncs per append (`pg_stat_io`, object 'wal') and commits per
append (`pg_stat_database.xact_commit`; the notifier's NOTIFY transactions count as commits
but write no WAL), read after the load's connections are closed (a busy backend holds its
statistics back). Run: `python tests/bench/bench_append.py` (starts its own embedded
PostgreSQL; or `--database-url`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from tillroll.infra.embedded import start_embedded
from tillroll.infra.eventlog.recorder import TillrollRecorder

SECONDS = 2.5
ROUNDS = 2
"""Each row is ROUNDS runs of SECONDS, the designs taking turns (the load of a shared machine
drifts; interleaving spreads it over all of them)."""
CLIENTS = (1, 8, 32)


def counters(url: str) -> tuple[int, int]:
    """(WAL fsyncs, commits) so far, cluster-wide / this database."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        fsyncs = conn.execute("SELECT sum(fsyncs) FROM pg_stat_io WHERE object = 'wal'").fetchone()
        commits = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(fsyncs[0] or 0), int(commits[0] or 0)  # type: ignore[index]


def run_clients(clients: int, open_client: Callable[[], Callable[[], None]]) -> int:
    """Call each client's append for SECONDS in `clients` threads; the appends done."""
    done = [0] * clients
    stop = time.monotonic() + SECONDS
    ready = threading.Barrier(clients)

    def work(i: int) -> None:
        append = open_client()
        ready.wait()
        while time.monotonic() < stop:
            append()
            done[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def measure(
    url: str,
    clients: int,
    open_client: Callable[[], Callable[[], None]],
    close: Callable[[], None] = lambda: None,
) -> dict:
    time.sleep(0.5)  # let earlier backends' statistics land
    f0, c0 = counters(url)
    started = time.monotonic()
    n = run_clients(clients, open_client)
    elapsed = time.monotonic() - started
    close()  # a backend reports its statistics when it exits
    time.sleep(0.5)
    f1, c1 = counters(url)
    return {"n": n, "elapsed": elapsed, "fsyncs": f1 - f0, "commits": c1 - c0 - 2}


# -- (a)-(c) tillroll's recorder ---------------------------------------------------------------
def open_recorder(url: str, schema: str, clients: int) -> tuple[TillrollRecorder, Any]:
    params = psycopg.conninfo.conninfo_to_dict(url)
    datastore = PostgresDatastore(
        str(params.get("dbname") or "postgres"),
        str(params.get("host") or "localhost"),
        str(params.get("port") or "5432"),
        str(params.get("user") or "postgres"),
        str(params.get("password") or ""),
        pool_size=clients,
        schema=schema,
    )
    recorder = TillrollRecorder(datastore, events_table_name="bench_events")
    recorder.create_table()
    return recorder, datastore


def before(url: str, schema: str, clients: int) -> dict:
    """Issue 11's append: lock and pg_notify in the append's own statement."""
    recorder, datastore = open_recorder(url, schema, clients)
    opened: list[psycopg.Connection[Any]] = []

    def open_client() -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=True)
        opened.append(conn)
        return lambda: (
            recorder.append(conn, [StoredEvent(uuid.uuid4(), 1, "t", b"{}")], notify=True) and None
        )

    def close() -> None:
        for conn in opened:
            conn.close()
        datastore.close()

    try:
        return measure(url, clients, open_client, close)
    finally:
        close()


def notify_out(url: str, schema: str, clients: int) -> dict:
    return ours(url, schema, clients, limit=1)


def two_in_flight(url: str, schema: str, clients: int) -> dict:
    return ours(url, schema, clients, leaders=2)


def ours(url: str, schema: str, clients: int, **combiner: int) -> dict:
    recorder, datastore = open_recorder(url, schema, clients)
    for name, value in combiner.items():
        setattr(recorder.combiner, name, value)
    sent = recorder.notifier.sent

    def open_client() -> Callable[[], None]:
        return lambda: recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "t", b"{}")])

    def close() -> None:
        recorder.notifier.close()
        datastore.close()

    try:
        result = measure(url, clients, open_client, close)
        result["notifies"] = recorder.notifier.sent - sent
        return result
    finally:
        close()


# -- (e) lock-free inserts + one sequencer ----------------------------------------------------
SEQ_SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.seq_events (
  id bigserial PRIMARY KEY, xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  originator_id uuid NOT NULL, state bytea,
  inserted_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IF NOT EXISTS seq_events_log_order ON {s}.seq_events (xid, id);
CREATE TABLE IF NOT EXISTS {s}.seq_positions (
  position bigint PRIMARY KEY, id bigint NOT NULL UNIQUE,
  sequenced_at timestamptz NOT NULL DEFAULT clock_timestamp());
TRUNCATE {s}.seq_events, {s}.seq_positions;
"""


class Sequencer(threading.Thread):
    """Numbers the final prefix of the log (below the snapshot horizon) in (xid, id) order,
    up to 5,000 rows a transaction, durably; one instance (an advisory-lock leader in a
    real deployment)."""

    def __init__(self, url: str, schema: str) -> None:
        super().__init__(daemon=True)
        self.url, self.schema = url, schema
        self.stopping = threading.Event()

    def run(self) -> None:
        last_xid, last_id, position = "0", 0, 0
        with psycopg.connect(self.url) as conn:
            while not self.stopping.is_set():
                row = conn.execute(
                    f"WITH batch AS (SELECT xid, id FROM {self.schema}.seq_events"
                    "  WHERE xid < pg_snapshot_xmin(pg_current_snapshot())"
                    "  AND (xid, id) > (%s::text::xid8, %s) ORDER BY xid, id LIMIT 5000),"
                    " numbered AS (INSERT INTO "
                    f"{self.schema}.seq_positions (position, id)"
                    "  SELECT %s + row_number() OVER (ORDER BY xid, id), id FROM batch"
                    "  RETURNING position)"
                    " SELECT (SELECT count(*) FROM numbered),"
                    "  (SELECT xid::text FROM batch ORDER BY xid DESC, id DESC LIMIT 1),"
                    "  (SELECT id FROM batch ORDER BY xid DESC, id DESC LIMIT 1)",
                    (last_xid, last_id, position),
                ).fetchone()
                conn.commit()
                assert row is not None
                if row[0]:
                    position += row[0]
                    last_xid, last_id = row[1], row[2]
                else:
                    time.sleep(0.001)


def sequenced(url: str, schema: str, clients: int) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEQ_SCHEMA.format(s=schema))
    sequencer = Sequencer(url, schema)
    sequencer.start()
    insert = f"INSERT INTO {schema}.seq_events (originator_id, state) VALUES (%s, %s)"

    opened: list[psycopg.Connection[Any]] = []

    def open_client() -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=True)
        opened.append(conn)
        return lambda: conn.execute(insert, (uuid.uuid4(), b"{}"), prepare=True) and None

    result = measure(url, clients, open_client, lambda: [c.close() for c in opened] and None)
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            left = conn.execute(
                f"SELECT count(*) FROM {schema}.seq_events e WHERE NOT EXISTS"
                f" (SELECT 1 FROM {schema}.seq_positions p WHERE p.id = e.id)"
            ).fetchone()
            if left and left[0] == 0:
                break
            time.sleep(0.05)
        lags = [
            r[0]
            for r in conn.execute(
                "SELECT extract(epoch FROM p.sequenced_at - e.inserted_at) * 1000"
                f" FROM {schema}.seq_positions p JOIN {schema}.seq_events e USING (id)"
            ).fetchall()
        ]
    sequencer.stopping.set()
    sequencer.join(5)
    lags.sort()
    result["lag_ms"] = (statistics.median(lags), lags[int(len(lags) * 0.99) - 1])
    return result


# -- (d) raw commits ----------------------------------------------------------------------------
def raw(url: str, schema: str, clients: int) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.raw_rows"
            " (id bigserial PRIMARY KEY, originator_id uuid, state bytea)"
        )
    insert = f"INSERT INTO {schema}.raw_rows (originator_id, state) VALUES (%s, %s)"

    opened: list[psycopg.Connection[Any]] = []

    def open_client() -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=True)
        opened.append(conn)
        return lambda: conn.execute(insert, (uuid.uuid4(), b"{}"), prepare=True) and None

    return measure(url, clients, open_client, lambda: [c.close() for c in opened] and None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--sequencer", action="store_true", help="add issue 11's prototype")
    parser.add_argument("--clients", type=int, nargs="*", default=list(CLIENTS))
    args = parser.parse_args()
    servers: Any = None
    url = args.database_url
    if url is None:
        servers = start_embedded(Path(tempfile.mkdtemp()), need_postgres=True, need_redis=False)
        url = servers.database_url
    schema = "bench_append"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    designs: list[tuple[str, Callable[[str, str, int], dict]]] = [
        ("(a) before: lock + pg_notify in the append", before),
        ("(b) NOTIFY out of the append, each alone", notify_out),
        ("(c) tillroll now: (b) + group commit", ours),
        ("(c2) (c) with two batches in flight, not one", two_in_flight),
        ("(d) raw one-row INSERT commits", raw),
    ]
    if args.sequencer:
        designs.append(("(e) lock-free + sequencer (issue 11)", sequenced))
    totals: dict[tuple[str, int], dict] = {}
    try:
        for clients in args.clients:  # clients outermost: each design's neighbours in time
            for _ in range(ROUNDS):
                for name, design in designs:
                    r = design(url, schema, clients)
                    total = totals.setdefault((name, clients), {})
                    for key, value in r.items():
                        total[key] = total.get(key, 0) + value if key != "lag_ms" else value
    finally:
        if servers is not None:
            servers.stop()
    rates: dict[tuple[str, int], float] = {}
    rows = []
    for (name, clients), r in totals.items():
        n = r["n"]
        rates[name.split()[0], clients] = n / r["elapsed"]
        lag = r.get("lag_ms")
        lag_text = f"{lag[0]:.1f} / {lag[1]:.1f}" if lag else "-"
        notifies = f"{r['notifies'] / n:.2f}" if "notifies" in r else "-"
        rows.append(
            f"| {name} | {clients} | {n / r['elapsed']:,.0f} | {r['fsyncs'] / n:.2f}"
            f" | {r['commits'] / n:.2f} | {notifies} | {lag_text} |"
        )
    print()
    print(
        "| design | clients | appends/s | WAL fsyncs/append | commits/append |"
        " NOTIFYs/append | position lag ms (median / p99) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print()
    print("| clients | (a) before / raw | (b) / raw | (c) now / raw | (c2) / raw | (c) / (a) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for clients in args.clients:
        raw_rate = rates["(d)", clients]
        print(
            f"| {clients} | {rates['(a)', clients] / raw_rate:.2f}"
            f" | {rates['(b)', clients] / raw_rate:.2f} | {rates['(c)', clients] / raw_rate:.2f}"
            f" | {rates['(c2)', clients] / raw_rate:.2f}"
            f" | {rates['(c)', clients] / rates['(a)', clients]:.2f} |"
        )
    if 1 in args.clients:
        print(f"\ncommit latency, 1 raw client: {1000 / rates['(d)', 1]:.2f} ms")


if __name__ == "__main__":
    main()
