"""No silent stall: one alert and one back-to-normal mail to staff; `mailflow check` fails meanwhile."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.clock import ManualClock
from mailflow.db.state import get_state, note_mailbox
from mailflow.service import daemon as daemon_module
from mailflow.service.alerts import Contact, OpenAlert, assess, duration_fr, review
from mailflow.service.daemon import Daemon
from mailflow.service.health import daemon_check
from tests.factories import make_app, wait_until

T0 = datetime(2025, 6, 10, 8, 0, tzinfo=UTC)
LIMIT = timedelta(minutes=15)


# -- the decision, alone -------------------------------------------------------------------------------


def test_silence_shorter_than_the_limit_raises_no_alert() -> None:
    """Fourteen minutes without contact: nothing to tell staff yet."""
    contact = Contact(last_ok=T0, error="refused", failing_since=T0 + timedelta(minutes=1))
    assert assess(contact, None, T0 + timedelta(minutes=14), LIMIT, started_at=T0) is None


def test_silence_as_long_as_the_limit_raises_one_alert_then_nothing_more() -> None:
    """Fifteen minutes without contact: an alert; while it is open and contact is still lost, nothing more."""
    contact = Contact(last_ok=T0, error="refused", failing_since=T0)
    assert assess(contact, None, T0 + LIMIT, LIMIT, started_at=T0) == "alert"
    assert assess(contact, OpenAlert(T0), T0 + 3 * LIMIT, LIMIT, started_at=T0) is None


def test_a_contact_after_the_outage_ends_the_alert() -> None:
    """Once the mailbox was reached after the outage began, staff are told it is back to normal."""
    back = Contact(last_ok=T0 + timedelta(minutes=40), error=None, failing_since=None)
    assert assess(back, OpenAlert(T0), T0 + timedelta(minutes=40), LIMIT, started_at=T0) == "back-to-normal"


def test_a_mailbox_never_reached_counts_from_the_first_failure_or_the_start() -> None:
    """No contact ever: the silence is counted from the first failure, else from the daemon's start."""
    failing = Contact(last_ok=None, error="login refused", failing_since=T0)
    assert assess(failing, None, T0 + LIMIT, LIMIT, started_at=T0 + timedelta(minutes=10)) == "alert"
    nothing = Contact(last_ok=None, error=None, failing_since=None)
    assert assess(nothing, None, T0 + LIMIT, LIMIT, started_at=T0 + timedelta(minutes=10)) is None


def test_durations_read_as_staff_write_them() -> None:
    """Durations in the mails: minutes, hours and minutes, days and hours."""
    assert duration_fr(timedelta(minutes=17)) == "17 minutes"
    assert duration_fr(timedelta(hours=2, minutes=5)) == "2 h 05"
    assert duration_fr(timedelta(days=3, hours=4)) == "3 jours et 4 h"


# -- on a database --------------------------------------------------------------------------------------


def test_two_reviewers_queue_one_alert_and_one_back_to_normal(tmp_path: Path) -> None:
    """Reviews from two apps on one database, repeated: one alert and one back-to-normal in the outbox."""
    from mailflow.db.models import OutboxMail
    from mailflow.service.app import build_app

    clock = ManualClock(T0)
    app = make_app(tmp_path, clock=clock)
    other = build_app(app.settings, clock=clock)
    note_mailbox(app.sessions, app.clock.now(), mode="idle")
    clock.advance(timedelta(minutes=1))
    note_mailbox(app.sessions, app.clock.now(), mode="error", error="IMAP: connection refused")
    clock.advance(timedelta(minutes=20))
    actions = [review(a, clock.now(), T0) for a in (app, other, app, other)]
    assert actions == ["alert", None, None, None]
    clock.advance(timedelta(minutes=5))
    note_mailbox(other.sessions, other.clock.now(), mode="idle")
    actions = [review(a, clock.now(), T0) for a in (other, app, other)]
    assert actions == ["back-to-normal", None, None]
    with app.sessions() as session:
        kinds = sorted(session.scalars(select(OutboxMail.kind)))
        alert = get_state(session, "mailbox-alert")
    assert kinds == ["staff/alerte-boite", "staff/retour-normal"]
    assert alert is not None and alert.value["open"] is False


@pytest.mark.slow
def test_mailflow_check_fails_when_the_daemon_last_reached_the_mailbox_too_long_ago(tmp_path: Path) -> None:
    """`mailflow check` exits 1 with a "daemon" line when the last contact is old, 0 when fresh or before any run."""
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=2))
    app = make_app(tmp_path, clock=clock)
    config = str(tmp_path / "settings.toml")

    never = subprocess.run([sys.executable, "-m", "mailflow", "--config", config, "check"],
                           capture_output=True, text=True, timeout=60)
    note_mailbox(app.sessions, app.clock.now(), mode="idle")
    old = subprocess.run([sys.executable, "-m", "mailflow", "--config", config, "check"],
                         capture_output=True, text=True, timeout=60)
    clock.set(datetime.now(UTC))
    note_mailbox(app.sessions, app.clock.now(), mode="idle")
    fresh = subprocess.run([sys.executable, "-m", "mailflow", "--config", config, "check"],
                           capture_output=True, text=True, timeout=60)

    assert never.returncode == 0, never.stdout
    assert "OK   daemon: no daemon has run on this database yet" in never.stdout
    assert old.returncode == 1
    [line] = [line for line in old.stdout.splitlines() if " daemon: " in line]
    assert line.startswith("FAIL daemon: last mailbox contact") and "120 min ago (limit 15 min)" in line
    assert fresh.returncode == 0, fresh.stdout
    assert any(line.startswith("OK   daemon: last mailbox contact") for line in fresh.stdout.splitlines())


# -- the daemon, a real outage of Dovecot, real SMTP --------------------------------------------------------


@pytest.fixture
def running(imap_server, smtp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # noqa: ANN001
    """A daemon on the test Dovecot and SMTP server, in a thread, on a clock the test moves."""
    clock = ManualClock(T0)
    app = make_app(tmp_path, imap=imap_server, smtp=smtp, clock=clock, monkeypatch=monkeypatch)
    daemon = Daemon(app, tick_seconds=1.0, monitor_seconds=0.2)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        yield app, daemon
    finally:
        daemon.stopping = True
        thread.join(20)
        if not imap_server.running:
            imap_server.start()


def mailbox_state(app) -> dict:  # noqa: ANN001
    with app.sessions() as session:
        row = get_state(session, "mailbox")
        return dict(row.value) if row is not None else {}


def subjects(smtp, word: str) -> list[str]:  # noqa: ANN001
    return [str(m.message["Subject"]) for m in smtp.messages if word in str(m.message["Subject"])]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_mailbox_outage_longer_than_the_limit_sends_one_alert_and_one_back_to_normal(
    running, imap_server, smtp, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Dovecot dead 16 min (clock time): one alert to staff, `check` fails; back up: one back-to-normal."""
    app, daemon = running
    wait_until(lambda: mailbox_state(app).get("last_ok") is not None, 30, "the first mailbox contact")

    imap_server.kill()
    wait_until(lambda: mailbox_state(app).get("mode") == "error", 30, "the outage noticed")
    app.clock.advance(timedelta(minutes=16))
    wait_until(lambda: len(subjects(smtp, "Alerte")) == 1, 20, "the alert mail")
    during = daemon_check(app.engine, app.settings, app.clock.now())
    imap_server.start()
    wait_until(lambda: len(subjects(smtp, "Retour à la normale")) == 1, 60, "the back-to-normal mail")
    reviews: list[object] = []

    def counted(*args: object) -> object:
        reviews.append(review(*args))
        return reviews[-1]

    monkeypatch.setattr(daemon_module, "review", counted)
    wait_until(lambda: len(reviews) >= 5, 20, "five more reviews of the mailbox contact")
    daemon.sender.settle()  # whatever they queued is sent: still one mail of each

    assert len(subjects(smtp, "Alerte")) == 1
    assert len(subjects(smtp, "Retour à la normale")) == 1
    alert = next(m for m in smtp.messages if "Alerte" in str(m.message["Subject"]))
    assert alert.rcpt_tos == ("stages.inet@cnfpt.fr",)
    assert alert.message["Auto-Submitted"] == "auto-generated"
    body = " ".join(alert.message.get_body(("plain",)).get_content().split())
    assert "n'a pas relevé la boîte des stages depuis le mardi 10 juin 2025 à 10 h," in body
    assert "Dernière erreur constatée : IMAP" in body
    assert during[1] is False and "min ago (limit 15 min)" in during[2]
    after = daemon_check(app.engine, app.settings, app.clock.now())
    assert after[1] is True
