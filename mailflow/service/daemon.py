"""`mailflow run`: the long-running service.

It repeats the pass of `app.run_once` (mailbox, due reminders, outbox), waiting in IMAP IDLE
between passes. Around that pass:

- leadership (`mailflow.service.leader`): with several daemons on one PostgreSQL database, only the one
  holding the lock reads the mailbox and runs the scheduler; the others help drain the outbox and
  try to take the lock every few seconds, so one takes over soon after the leader dies;
- a lost mailbox or database is retried with exponential backoff and jitter (logged once per outage);
- SIGHUP reloads calendars and templates (a broken file keeps the old ones and the log says why);
  SIGTERM finishes the mail in hand, skips the rest and exits 0;
- systemd is told READY, STATUS and STOPPING, and WATCHDOG only when the loop really moves on
  (between mails, while waiting in IDLE, while backing off), so a hung daemon gets restarted;
- a monitor thread reviews the last mailbox contact (`mailflow.service.alerts`) and mails staff once when it
  is too old, once when it is back.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
import sdnotify
from tenacity import RetryCallState, wait_exponential_jitter

from mailflow.db.state import note_leader, note_mailbox
from mailflow.errors import MailboxError, MailflowError, TemplateError
from mailflow.mail.outbox import release_claims_of_others
from mailflow.mail.templates import Templates
from mailflow.memory import release_free_memory
from mailflow.pipeline.readers import Readers
from mailflow.pipeline.run import ingest_pass, resume
from mailflow.service.alerts import review
from mailflow.service.failures import LoginProblem, explain
from mailflow.service.jobs import reschedule, start_scheduler
from mailflow.service.leader import Leadership, identity, leadership_for
from mailflow.service.sending import Sender

if TYPE_CHECKING:
    from mailflow.context import App

log = logging.getLogger("mailflow.service.daemon")

TICK_SECONDS = 30.0
LEADER_RETRY_SECONDS = 10.0
MONITOR_SECONDS = 30.0
PING_EVERY_SECONDS = 1.0


class Notifier(Protocol):
    """Where sd_notify messages go (systemd's socket; a list in tests)."""

    def notify(self, state: str) -> None: ...


class Heartbeat:
    """The loop's progress: each `beat()` is a step forward, and only a beat pings systemd's watchdog."""

    def __init__(self, notifier: Notifier):
        self.notifier = notifier
        self.last = time.monotonic()
        self._pinged = 0.0

    def beat(self) -> None:
        """Note progress now; tell the watchdog (at most once a second)."""
        now = time.monotonic()
        self.last = now
        if now - self._pinged >= PING_EVERY_SECONDS:
            self._pinged = now
            self.notifier.notify("WATCHDOG=1")

    def age(self) -> float:
        """Seconds since the loop last moved on."""
        return time.monotonic() - self.last


class Daemon:
    """The service loop, with its leadership, signals, watchdog and stall monitor."""

    def __init__(
        self,
        app: App,
        tick_seconds: float = TICK_SECONDS,
        *,
        leadership: Leadership | None = None,
        notifier: Notifier | None = None,
        leader_retry_seconds: float = LEADER_RETRY_SECONDS,
        monitor_seconds: float = MONITOR_SECONDS,
    ):
        self.app = app
        self.tick_seconds = tick_seconds
        self.leader_retry_seconds = leader_retry_seconds
        self.monitor_seconds = monitor_seconds
        self.leadership = leadership or leadership_for(app.engine)
        self.notifier: Notifier = notifier or sdnotify.SystemdNotifier()
        self.heartbeat = Heartbeat(self.notifier)
        self.stopping = False
        self.reload_requested = False
        self.scheduler: Any = None
        self._failures = 0
        self._outage_since: float | None = None
        self._standing_by = False
        self._backoff = wait_exponential_jitter(initial=1, max=300, jitter=2)
        self._monitor_stop = threading.Event()
        self.readers = Readers(app.form, app.forms, app.limits, app.settings.mailbox.reader_processes,
                               archive=app.archive)
        self.sender = Sender(self._drain_now, hang_up=self._hang_up)

    # -- signals -----------------------------------------------------------------------------------
    def _on_term(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s received: finishing the mail in hand, then stopping", signal.Signals(signum).name)
        self.stopping = True

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # tests drive the loop from a thread and stop it with `stopping`
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or `stopping`); return the exit status."""
        self._install_signals()
        gc.freeze()  # what is loaded at start lives as long as the daemon: no full collection walks it again
        self.readers.start_workers()
        self.sender.start()
        started_at = self.app.clock.now()
        threading.Thread(target=self._monitor, args=(started_at,), name="stall-monitor", daemon=True).start()
        self.notifier.notify("READY=1")
        log.info("mailflow started: mailbox %s", self.app.mailbox.name)
        try:
            while not self.stopping:
                self.heartbeat.beat()
                if self.reload_requested:
                    self._reload()
                if self._leading():
                    self._lead_once()
                else:
                    self._stand_by()
        finally:
            self.notifier.notify("STOPPING=1")
            self._monitor_stop.set()
            self.sender.stop()
            self._step_down()
            self.leadership.release()
            self.readers.close()
            log.info("mailflow stopped")
        return 0

    def _leading(self) -> bool:
        """Keep, lose or take the leadership; True when this daemon leads for this turn of the loop."""
        if self.scheduler is not None:
            if self.leadership.held():
                return True
            log.error("leadership lost: no longer reading the mailbox nor running the scheduler")
            self._step_down()
            return False
        if not self.leadership.acquire():
            return False
        self._take_over()
        return True

    def _take_over(self) -> None:
        self._standing_by = False
        now = self.app.clock.now()
        note_leader(self.app.sessions, now, identity(now))
        self._resend_orphans()
        self.scheduler = start_scheduler(self.app)
        log.info("leading: this daemon reads the mailbox and runs the scheduler")
        self.notifier.notify(f"STATUS=leading: watching {self.app.mailbox.name}")

    def _resend_orphans(self) -> None:
        """Mails another process claimed and never finished are due now: that process is gone."""
        try:
            with self.app.sessions.begin() as session:
                released = release_claims_of_others(session, self.app.clock.now())
        except Exception:  # noqa: BLE001 - they are sent after their lease anyway
            log.warning("could not release the outbox claims of a previous daemon", exc_info=True)
            return
        if released:
            log.info("outbox: %d mail(s) claimed by a stopped daemon are due again now", released)

    def _step_down(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        self.app.mailbox.close()

    def _stand_by(self) -> None:
        """Another daemon leads: help drain the outbox, then wait and try the lock again."""
        if not self._standing_by:
            self._standing_by = True
            log.info("another daemon holds the mailbox and the scheduler; standing by")
            self.notifier.notify("STATUS=standing by: another daemon leads")
        self._drain()
        self._pause(self.leader_retry_seconds)

    def _lead_once(self) -> None:
        """One pass, then a wait unless the pass found mail; failures are retried with backoff, never fatal.

        A pass lists the mailbox once, at its start: mail that arrives while it files the rest is
        read by the next pass, at once, rather than left to a wake-up from the server (Dovecot, for one,
        may announce mail that arrived before IDLE began only at its next check, 30 s later)."""
        try:
            found = self.one_pass()
            if self._outage_since is not None:
                log.info("mailbox reachable again after %.0f s", time.monotonic() - self._outage_since)
            self._outage_since, self._failures = None, 0
            if not self.stopping and not found:
                self.app.mailbox.wait(self.tick_seconds, self._interrupted)
        except MailboxError as exc:
            self._failures += 1
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.warning("mailbox unreachable, retrying with backoff: %s", exc)
            self._note_error(str(exc))
            self.app.mailbox.close()
            self._drain()
            self._pause(self._delay(self._failures))
        except LoginProblem as exc:  # expected and explained: one line, no traceback
            self._failures += 1
            text = explain(exc)
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.error("%s", text)
            self._note_error(text)
            self.app.mailbox.close()
            self._drain()
            self._pause(self._delay(self._failures))
        except Exception:  # noqa: BLE001 - the daemon never dies of one failure (database down, a bug)
            self._failures += 1
            delay = self._delay(self._failures)
            log.exception("service pass failed; next try in %.0f s", delay)
            self._pause(delay)

    def one_pass(self) -> bool:
        """Finish interrupted mails, read new ones (stopping between two on SIGTERM), send what is due;
        True when it read new mail."""
        app = self.app
        resume(app)
        report = ingest_pass(app, keep_going=self._keep_going, readers=self.readers, after_mail=self._drain)
        mode = "idle" if getattr(app.mailbox, "idle_supported", False) else "polling"
        note_mailbox(app.sessions, app.clock.now(), mode=mode)
        if report.verdicts:
            log.info("mailbox pass: %s", report)
        if not self.stopping:
            self._drain()
        release_free_memory()
        return bool(report.verdicts)

    def _keep_going(self) -> bool:
        self.heartbeat.beat()
        return not self.stopping

    def _interrupted(self) -> bool:
        self.heartbeat.beat()
        return self.stopping or self.reload_requested

    def _note_error(self, error: str) -> None:
        try:
            note_mailbox(self.app.sessions, self.app.clock.now(), mode="error", error=error)
        except Exception:  # noqa: BLE001 - the database may be down too; the loop goes on
            log.warning("could not record the mailbox error in the database", exc_info=True)

    def _drain(self) -> None:
        """Send what is due, in the sender's thread: the loop goes on meanwhile."""
        self.sender.wake()

    def _drain_now(self) -> None:
        app = self.app
        try:
            report = app.outbox.drain(keep_open=True)
        except Exception:  # noqa: BLE001 - mails stay in the outbox for the next drain
            log.exception("outbox drain failed")
            return
        if report.sent or report.failed or report.stopped:
            log.info("outbox: %s", report)

    def _hang_up(self) -> None:
        try:
            self.app.outbox.hang_up()
        except Exception:  # noqa: BLE001 - a connection that will not close is dropped with the transport's
            log.warning("could not close the connection to the SMTP server", exc_info=True)

    # -- reload --------------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.reload_requested = False
        try:
            _check_templates(self.app)
            self.app.reload()
        except MailflowError as exc:
            log.error("reload refused, keeping the previous calendars and templates: %s", exc)
            return
        if self.scheduler is not None:

            reschedule(self.app, self.scheduler)
        log.info("calendars and templates reloaded")

    # -- stall monitor ---------------------------------------------------------------------------------
    def _monitor(self, started_at: Any) -> None:
        while not self._monitor_stop.wait(self.monitor_seconds):
            try:
                if review(self.app, self.app.clock.now(), started_at) is not None:
                    self._drain()
            except Exception:  # noqa: BLE001 - try again at the next round
                log.exception("stall review failed")

    # -- waiting ----------------------------------------------------------------------------------------
    def _delay(self, failures: int) -> float:
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = failures
        return float(self._backoff(state))

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and not self.reload_requested and time.monotonic() < deadline:
            self.heartbeat.beat()
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _check_templates(app: App) -> None:
    """Compile every template file, so a syntax error refuses the reload instead of breaking a mail later."""
    templates = Templates.from_settings(app.settings)
    for name in templates.env.list_templates(extensions=["j2"]):
        try:
            templates.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {name}, line {exc.lineno}: {exc.message}") from None
