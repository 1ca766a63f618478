"""The wake-up for the log's listeners, sent from outside the appends' transactions.

A transaction that notifies takes a database-wide lock at commit and holds it through its
WAL flush, so appends that notified themselves could never share a flush. Instead the
appending process pokes one `Notifier` after its appends commit; a thread of its own, on
its own autocommit connection, sends one `NOTIFY` per burst: at most one in flight, and
another only if appends committed meanwhile (and not sooner than SPACING after it). The
notification is sent after the commit it announces, so a listener that reads when woken
sees those events. A lost connection is reopened and the notification sent again;
listeners also poll now and then, as a safety net. The thread ends (closing its
connection) after a quiet spell and starts again on the next poke, so an idle recorder
holds neither.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)

IDLE = 2.0
"""Seconds without a poke after which the thread and its connection go away."""
SPACING = 0.002
"""Seconds between two notifications at least: a wake-up at most this much later, and at
most a few hundred NOTIFY transactions a second however fast appends commit."""
RECONNECT_WAIT = 0.2


class Notifier:
    """Coalesced `NOTIFY <channel>` after commits (see the module's docstring)."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: str,
        *,
        idle: float = IDLE,
        spacing: float = SPACING,
    ) -> None:
        self._connect = connect
        self._statement = SQL("NOTIFY {}").format(Identifier(channel))
        self._idle = idle
        self._spacing = spacing
        self._cond = threading.Condition(threading.Lock())
        self._pending = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self.sent = 0
        """Notifications sent so far (the tests and the benchmark read it)."""

    def poke(self) -> None:
        """Appends have committed: make sure a notification follows."""
        with self._cond:
            self._pending = True
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._run, name="log-notifier", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is pending, then end the thread and its connection now (a poke
        afterwards starts them again)."""
        with self._cond:
            thread, self._closing = self._thread, True
            self._cond.notify()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._pending or self._closing, self._idle)
                    if not self._pending:  # quiet for a while, or closed
                        self._thread = None  # a later poke starts a new thread
                        return
                    self._pending = False
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    conn.execute(self._statement)
                    self.sent += 1
                    time.sleep(self._spacing)  # commits meanwhile share the next one
                except psycopg.Error:
                    log.warning("could not wake the event log's listeners; retrying")
                    if conn is not None:
                        conn.close()
                    conn = None
                    with self._cond:
                        if self._closing:  # give up: the listeners' poll will catch up
                            return
                        self._pending = True
                    threading.Event().wait(RECONNECT_WAIT)
        finally:
            if conn is not None:
                conn.close()
            with self._cond:  # ended by an error no retry covers: let a poke start anew
                if self._thread is threading.current_thread():
                    self._thread = None
