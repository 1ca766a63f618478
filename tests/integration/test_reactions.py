"""Reactions end to end on the real servers: order placed -> an rq job -> a real worker ->
one e-mail per order, even when the reaction is killed in the middle of a batch."""

from __future__ import annotations

import email
import subprocess
import sys
import textwrap

from psycopg.sql import SQL, Identifier
from tillroll.aggregates.identity.account import Account
from tillroll.commands.bus import dispatch
from tillroll.commands.notifications import SendOrderConfirmation
from tillroll.infra.settings import Settings

from tests.conftest import ROOT, child_env, open_accounts
from tests.integration.workload import create_product, order
from tillroll.bootstrap import Runtime, mail_directory
from tillroll.worker import WORKER, work

CUSTOMER = Account.create_id("customer@example.com")

# A `tillroll projections run --once` that is killed (SIGKILL, no clean-up) right after its
# reactions enqueued KILL_AFTER jobs: after some effects of a batch, before its position.
KILLED_FOLLOWER = textwrap.dedent(
    """
    import os, signal, sys
    from tillroll.infra import jobs

    enqueued = 0
    original = jobs.RqJobQueue.enqueue

    def enqueue(self, *args, **kwargs):
        global enqueued
        result = original(self, *args, **kwargs)
        enqueued += 1
        if enqueued == int(os.environ["KILL_AFTER"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    jobs.RqJobQueue.enqueue = enqueue
    from tillroll.cli import main
    sys.exit(main(["projections", "run", "--once"]))
    """
)


def _plain(message: email.message.Message) -> email.message.Message:
    """The message as a plain-text reader sees it: its headers, and its text/plain
    alternative as the body (messages carry an HTML alternative too)."""
    if message.is_multipart():
        text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        message.set_payload(text.get_payload(decode=True).decode(text.get_content_charset()))
    return message


def _messages(settings: Settings) -> list[email.message.Message]:
    directory = mail_directory(settings)
    files = sorted(directory.glob("*.eml")) if directory.exists() else []
    return [_plain(email.message_from_bytes(path.read_bytes())) for path in files]


def _reaction_position(rt: Runtime, name: str) -> int:
    with rt.read_pool.connection() as conn:
        row = conn.execute(
            SQL("SELECT position FROM {} WHERE name = %s").format(Identifier("reaction_positions")),
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tillroll.cli", *args],
        env=child_env(settings, **env),
        cwd=ROOT,
        timeout=120,
        capture_output=True,
    )


def test_a_job_id_is_enqueued_once_and_its_mail_delivered_once(runtime: Runtime) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 5)
    order_id = order(runtime.store, CUSTOMER, [("MUG", 2, 1299)])
    command = SendOrderConfirmation(order_id=order_id)  # type: ignore[arg-type]
    job_id = f"order-confirmation-{order_id}"
    assert runtime.jobs.enqueue(command, job_id=job_id)
    assert not runtime.jobs.enqueue(command, job_id=job_id)
    work(runtime, burst=True)
    (message,) = _messages(runtime.settings)
    assert message["To"] == "customer@example.com"
    assert message["Message-ID"] == f"<order-confirmation.{order_id}@tillroll>"
    assert message["X-Tillroll-Order"] == order_id
    assert "25.98 EUR" in message.get_payload()

    # The same cause run again (a job re-run after rq forgot its id): no second mail.
    result = dispatch(command, runtime.command_context(WORKER))
    assert result.delivered is False
    assert len(_messages(runtime.settings)) == 1


def test_a_reaction_killed_mid_batch_sends_exactly_one_mail_per_order(
    runtime: Runtime, settings: Settings
) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 100)
    placed = [order(runtime.store, CUSTOMER, [("MUG", 1, 1299)]) for _ in range(12)]
    last = runtime.store.head()

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_FOLLOWER],
        env=child_env(settings, KILL_AFTER="5"),
        cwd=ROOT,
        timeout=120,
        capture_output=True,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert runtime.jobs.queue().count == 5
    assert _reaction_position(runtime, "order_confirmation") < last  # its batch was not recorded

    resumed = _cli(settings, "projections", "run", "--once")
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert _reaction_position(runtime, "order_confirmation") >= last
    assert runtime.jobs.queue().count == 12  # the 5 re-delivered causes enqueued nothing new

    worker = _cli(settings, "worker", "--burst")
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    orders = sorted(message["X-Tillroll-Order"] for message in _messages(settings))
    assert orders == sorted(placed)
