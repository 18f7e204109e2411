"""`mailflow run`: the long-running service.

It repeats the pass of `app.run_once` (mailbox, due reminders, outbox), waiting in IMAP IDLE
between passes; it survives a lost mailbox by reconnecting with exponential backoff and
jitter (logged once per outage), reloads calendars and templates on SIGHUP, and on
SIGTERM finishes the mail in hand and exits 0. systemd is told READY, WATCHDOG and STOPPING.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING

import sdnotify
from tenacity import wait_exponential_jitter

from .errors import MailboxError, MailflowError
from .service_state import note_mailbox

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("mailflow.daemon")

TICK_SECONDS = 30.0


class Daemon:
    """The service loop, with its signals and its systemd notifications."""

    def __init__(self, app: App, tick_seconds: float = TICK_SECONDS):
        self.app = app
        self.tick_seconds = tick_seconds
        self.stopping = False
        self.reload_requested = False
        self.notifier = sdnotify.SystemdNotifier()
        self._backoff = wait_exponential_jitter(initial=1, max=300, jitter=2)

    def _on_term(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s received: finishing the mail in hand, then stopping", signal.Signals(signum).name)
        self.stopping = True

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status."""
        from .scheduler import start_scheduler

        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)
        scheduler = start_scheduler(self.app)
        self.notifier.notify("READY=1")
        log.info("mailflow started: watching %s", self.app.mailbox.name)
        outage_since: float | None = None
        failures = 0
        try:
            while not self.stopping:
                if self.reload_requested:
                    self._reload(scheduler)
                try:
                    self.one_pass()
                    if outage_since is not None:
                        log.info("mailbox reachable again after %.0f s", time.monotonic() - outage_since)
                        outage_since, failures = None, 0
                    self.notifier.notify("WATCHDOG=1")
                    self.app.mailbox.wait(self.tick_seconds, lambda: self.stopping or self.reload_requested)
                except MailboxError as exc:
                    failures += 1
                    note_mailbox(self.app, mode="error", error=str(exc))
                    if outage_since is None:
                        outage_since = time.monotonic()
                        log.warning("mailbox unreachable, retrying with backoff: %s", exc)
                    self.app.mailbox.close()
                    self._pause(self._delay(failures))
                    self.notifier.notify("WATCHDOG=1")
        finally:
            self.notifier.notify("STOPPING=1")
            scheduler.shutdown(wait=False)
            self.app.mailbox.close()
            log.info("mailflow stopped")
        return 0

    def one_pass(self) -> None:
        """Finish interrupted mails, read new ones, send what is due."""
        from .outbox import drain
        from .pipeline import ingest_pass, resume

        app = self.app
        resume(app)
        report = ingest_pass(app)
        mode = "idle" if getattr(app.mailbox, "idle_supported", False) else "polling"
        note_mailbox(app, mode=mode)
        if report.verdicts:
            log.info("mailbox pass: %s", report)
        drain(app.sessions, app.transport, app.clock, app.archive, max_attempts=app.settings.smtp.max_attempts)

    def _reload(self, scheduler) -> None:  # noqa: ANN001
        self.reload_requested = False
        try:
            self.app.reload()
        except MailflowError as exc:
            log.error("reload refused, keeping the previous calendars and templates: %s", exc)
            return
        from .scheduler import reschedule

        reschedule(self.app, scheduler)
        log.info("calendars and templates reloaded")

    def _delay(self, failures: int) -> float:
        from tenacity import RetryCallState

        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = failures
        return float(self._backoff(state))

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))
