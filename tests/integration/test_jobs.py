"""Background jobs on the real servers with a real rq worker in burst mode: the order e-mails
once per cause, reservation expiry on rq's scheduler, retries with back-off, the failed
registry and `tillroll jobs`."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import sys
import time
from dataclasses import replace
from uuid import UUID

from rq import Retry
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Order, OrderStatus
from tillroll.commands.notifications import SendOrderConfirmation
from tillroll.commands.reservations import EXPIRY_REASON
from tillroll.infra.settings import Settings
from tillroll.infra.smtp import SmtpMailer, parse_smtp_url

from tests.conftest import ROOT, child_env, open_accounts
from tests.integration.test_reactions import KILLED_FOLLOWER
from tests.integration.workload import create_product, order
from tillroll.bootstrap import Runtime, mail_directory
from tillroll.worker import work

CUSTOMER = Account.create_id("customer@example.com")
META = {"principal": "test", "role": "staff", "request_id": "test"}


def _mails(settings: Settings) -> dict[str, email.message.Message]:
    """The .eml files under the data directory, by Message-ID."""
    directory = mail_directory(settings)
    files = sorted(directory.glob("*.eml")) if directory.exists() else []
    messages = [email.message_from_bytes(path.read_bytes()) for path in files]
    return {str(message["Message-ID"]): message for message in messages}


def _text(message: email.message.Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def _html(message: email.message.Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    return part.get_payload(decode=True).decode()


def _change(runtime: Runtime, order_id: str, *steps: str) -> None:
    """Move an order along (the payment and shipping commands are another change's): the
    aggregate's own methods, saved to the real store."""
    order_: Order = runtime.store.get(UUID(order_id))
    for step in steps:
        if step == "pay":
            order_.mark_paid("pi_test_1", order_.total)
        elif step == "ship":
            order_.ship(carrier="DHL", tracking_code="JJD000123")
        elif step == "deliver":
            order_.deliver()
        elif step == "refund":
            order_.refund("damaged in transit")
    runtime.store.save(order_, meta=META)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillroll.cli", *args],
        env=child_env(settings),
        cwd=ROOT,
        timeout=120,
        capture_output=True,
        text=True,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: connections refused


def test_paid_shipped_and_refunded_orders_get_one_mail_per_cause(runtime: Runtime) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 5)
    order_id = order(runtime.store, CUSTOMER, [("MUG", 2, 1299)])
    _change(runtime, order_id, "pay", "ship", "deliver", "refund")

    runtime.runner.catch_up()
    runtime.runner.catch_up()  # a second pass (a re-delivery) enqueues nothing new
    work(runtime, burst=True)

    mails = _mails(runtime.settings)
    receipt = mails[f"<receipt.{order_id}@tillroll>"]
    assert "25.98 EUR" in _text(receipt) and "pi_test_1" in _text(receipt)
    (shipment,) = [m for i, m in mails.items() if i.startswith(f"<shipment.{order_id}.")]
    assert "DHL" in _text(shipment) and "JJD000123" in _html(shipment)
    (refund,) = [m for i, m in mails.items() if i.startswith(f"<refund.{order_id}.")]
    assert "damaged in transit" in _text(refund)
    assert all(m["X-Tillroll-Order"] == order_id for m in mails.values())
    assert len(mails) == 4  # with the confirmation; the expiry is scheduled, not yet due


def test_an_unpaid_order_expires_and_releases_its_stock_a_paid_one_is_left_alone(
    settings: Settings,
) -> None:
    runtime = Runtime.open(replace(settings, payment_timeout=1.0))
    try:
        open_accounts(runtime)
        create_product(runtime.store, "MUG", 1299, 10)
        unpaid = order(runtime.store, CUSTOMER, [("MUG", 3, 1299)])
        paid = order(runtime.store, CUSTOMER, [("MUG", 2, 1299)])
        _change(runtime, paid, "pay")
        runtime.runner.catch_up()
        assert runtime.jobs.overview()["scheduled"] == 2

        time.sleep(1.2)  # the payment timeout itself, not a read model
        work(runtime, burst=True)  # its scheduler enqueues the due expiries, then runs them

        expired: Order = runtime.store.get(UUID(unpaid))
        assert expired.status == OrderStatus.CANCELLED
        assert expired.cancel_reason == EXPIRY_REASON
        assert runtime.store.get(UUID(paid)).status == OrderStatus.PAID
        item: InventoryItem = runtime.store.get(InventoryItem.create_id("MUG"))
        assert not item.holds(UUID(unpaid)) and item.holds(UUID(paid))
        assert (item.on_hand, item.reserved) == (10, 2)
        overview = runtime.jobs.overview()
        assert (overview["scheduled"], overview["failed"]) == (0, 0)
    finally:
        runtime.close()


def test_a_transient_failure_is_retried_then_failed_then_retried_by_the_cli(
    runtime: Runtime, settings: Settings
) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 5)
    order_id = order(runtime.store, CUSTOMER, [("MUG", 1, 1299)])
    runtime.jobs.retry = Retry(max=2)  # no back-off wait, so a burst worker sees every try
    job_id = f"order-confirmation-{order_id}"
    assert runtime.jobs.enqueue(SendOrderConfirmation(UUID(order_id)), job_id=job_id)

    file_mailer = runtime.mailer
    runtime.mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{_closed_port()}"))
    work(runtime, burst=True)  # the mail server is down: three tries, then failed
    (failed,) = runtime.jobs.failed()
    assert failed["id"] == job_id
    assert "ConnectionRefusedError" in failed["error"]
    job = runtime.jobs.queue().fetch_job(job_id)
    assert job is not None and job.retries_left == 0  # both retries were spent

    listed = _cli(settings, "jobs", "failed")
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout and "SendOrderConfirmation" in listed.stdout
    counts = json.loads(_cli(settings, "jobs", "list", "--json").stdout)
    assert (counts["queued"], counts["failed"]) == (0, 1)

    runtime.mailer = file_mailer  # the mail server is back
    retried = _cli(settings, "jobs", "retry", job_id)
    assert retried.returncode == 0, retried.stderr
    assert runtime.jobs.failed() == []
    work(runtime, burst=True)
    assert list(_mails(settings)) == [f"<order-confirmation.{order_id}@tillroll>"]

    unknown = _cli(settings, "jobs", "retry", "no-such-job")
    assert unknown.returncode == 1 and "no failed job" in unknown.stderr


def test_a_transient_failure_waits_for_its_back_off(runtime: Runtime) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 5)
    order_id = order(runtime.store, CUSTOMER, [("MUG", 1, 1299)])
    assert runtime.jobs.enqueue(SendOrderConfirmation(UUID(order_id)), job_id="confirm")
    runtime.mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{_closed_port()}"))
    work(runtime, burst=True)
    overview = runtime.jobs.overview()
    assert (overview["scheduled"], overview["failed"]) == (1, 0)
    (retry,) = overview["jobs"]["scheduled"]
    assert retry["id"] == "confirm" and retry["run_at"] > retry["enqueued_at"]


def test_a_domain_refusal_fails_at_once_instead_of_being_retried(runtime: Runtime) -> None:
    missing = UUID(int=7)
    assert runtime.jobs.enqueue(SendOrderConfirmation(missing), job_id="confirm-missing")
    work(runtime, burst=True)
    (failed,) = runtime.jobs.failed()
    assert failed["id"] == "confirm-missing" and "NotFound" in failed["error"]
    assert runtime.jobs.overview()["scheduled"] == 0  # not waiting for a retry


def test_the_receipt_amount_comes_from_the_payment(runtime: Runtime) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 500, 5)
    order_id = order(runtime.store, CUSTOMER, [("MUG", 1, 500)])
    order_: Order = runtime.store.get(UUID(order_id))
    order_.mark_paid("pi_test_2", Money(500, "EUR"))
    runtime.store.save(order_, meta=META)
    runtime.runner.catch_up()
    work(runtime, burst=True)
    assert "5.00 EUR" in _text(_mails(runtime.settings)[f"<receipt.{order_id}@tillroll>"])


def test_a_running_worker_s_scheduler_expires_a_reservation_when_it_is_due(
    settings: Settings,
) -> None:
    runtime = Runtime.open(replace(settings, payment_timeout=1.0))
    worker = subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", "worker"],
        env=child_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        open_accounts(runtime)
        create_product(runtime.store, "MUG", 1299, 10)
        unpaid = order(runtime.store, CUSTOMER, [("MUG", 3, 1299)])
        runtime.runner.catch_up()
        deadline = time.monotonic() + 20
        while runtime.store.get(UUID(unpaid)).status != OrderStatus.CANCELLED:
            assert time.monotonic() < deadline, "the scheduler did not run the expiry"
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            time.sleep(0.1)  # another process's scheduler: polling the order is the only way
        item: InventoryItem = runtime.store.get(InventoryItem.create_id("MUG"))
        assert item.reserved == 0
    finally:
        worker.terminate()  # rq's warm shutdown: the scheduler it forked stops with it
        assert worker.wait(30) == 0
        runtime.close()


def test_order_mails_are_sent_once_per_cause_when_the_reaction_is_killed_mid_batch(
    runtime: Runtime, settings: Settings
) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "MUG", 1299, 100)
    placed = [order(runtime.store, CUSTOMER, [("MUG", 1, 1299)]) for _ in range(8)]
    for order_id in placed:
        _change(runtime, order_id, "pay", "ship")

    # 8 confirmations + 8 receipts + 8 shipment notices; killed after 13 of them were enqueued
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_FOLLOWER],
        env=child_env(settings, KILL_AFTER="13"),
        cwd=ROOT,
        timeout=120,
        capture_output=True,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert runtime.jobs.queue().count == 13
    resumed = _cli(settings, "projections", "run", "--once")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert runtime.jobs.queue().count == 24
    worker = _cli(settings, "worker", "--burst")
    assert worker.returncode == 0, worker.stderr[-2000:]

    mails = _mails(settings)
    for order_id in placed:
        causes = sorted(i.split(".")[0] for i in mails if order_id in i)
        assert causes == ["<order-confirmation", "<receipt", "<shipment"]
    assert len(mails) == 24
