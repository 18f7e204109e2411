"""mailflow as a system service: the systemd unit, SIGTERM and SIGHUP, sd_notify and the watchdog."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.db.models import Message, Proposal
from mailflow.service.daemon import Daemon
from mailflow.service.sending import Sender
from mailflow.settings import load_settings
from tests import factories
from tests.factories import (
    REPO,
    collectivity,
    make_app,
    proposal_mail,
    question_mail,
    stop_daemon,
    wait_until,
    write_settings,
)
from tests.fixtures.servers import servers_required

UNIT = REPO / "contrib" / "systemd" / "mailflow.service"
JUNE = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)


# -- helpers -----------------------------------------------------------------------------------------


class NotifySocket:
    """A Unix datagram socket standing in for systemd's NOTIFY_SOCKET; keeps what the daemon says."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mf-notify-"))
        self.path = self.folder / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def said(self, state: str) -> list[float]:
        """When the daemon sent `state` (e.g. "READY=1")."""
        return [at for at, line in list(self.messages) if line == state]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_daemon(workdir: Path, notify: NotifySocket | None = None) -> subprocess.Popen:
    return factories.start_daemon(workdir, {"NOTIFY_SOCKET": str(notify.path)} if notify is not None else None)


def rows(app, model, *where) -> int:  # noqa: ANN001
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


# -- the systemd unit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["mailflow.service", "mailflow-web.service"])
def test_the_unit_file_passes_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    """`systemd-analyze verify` finds nothing to say about the daemon's and the console's units."""
    unit_file = UNIT.parent / unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze not installed (apt-get install systemd)"
        if servers_required():
            pytest.fail(message + " (required on CI: scripts/install-test-deps installs it)", pytrace=False)
        pytest.skip(message)
    # An offline root: the system's units (targets the unit refers to) and stand-ins for the
    # programs the unit runs, since /opt/mailflow is not installed on a test machine.
    root = tmp_path / "root"
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for system_units in (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")):
        if system_units.is_dir():
            shutil.copytree(system_units, root / "usr" / "lib" / "systemd" / "system", dirs_exist_ok=True,
                            symlinks=True)
            break
    text = unit_file.read_text(encoding="utf-8")
    for program in re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", text, flags=re.MULTILINE):
        stand_in = root / program.lstrip("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
    shutil.copy(unit_file, units / unit_file.name)

    result = subprocess.run(
        [analyze, "verify", f"--root={root}", "--man=no", unit_file.name],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_the_unit_loads_the_credentials_the_service_settings_read() -> None:
    """Each password_file of the service's settings is a credential the unit loads; paths are absolute."""
    settings = load_settings(REPO / "contrib" / "systemd" / "settings.toml")
    unit = UNIT.read_text(encoding="utf-8")
    loaded = set(re.findall(r"^LoadCredential=([\w.-]+):", unit, flags=re.MULTILINE))
    for section in (settings.mailbox, settings.smtp):
        assert section.password_file is not None
        assert section.password_file.parent == Path("/run/credentials/mailflow.service")
        assert section.password_file.name in loaded
    assert settings.archive.path.is_absolute()
    assert settings.campaigns.schedules.is_absolute() and settings.campaigns.templates.is_absolute()
    assert settings.database.url.startswith("sqlite:////var/lib/mailflow/")


# -- SIGTERM while mail flows -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_while_mail_flows_exits_0_within_10_s_and_loses_nothing(
    imap_server, smtp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """SIGTERM in the middle of 120 mails: exit 0 in under 10 s; a restart files the rest, each once."""
    app = make_app(tmp_path, imap=imap_server, smtp=smtp, monkeypatch=monkeypatch, handle_since="2025-06-01")
    for n in range(120):
        imap_server.append(proposal_mail(collectivity(40_000 + n), date=JUNE).as_bytes(), internaldate=JUNE)
    notify = NotifySocket()
    log = tmp_path / "daemon.log"
    daemon = start_daemon(tmp_path, notify)
    try:
        wait_until(lambda: rows(app, Message, Message.state == "moved") >= 10, 120, "10 mails filed", log)
        assert rows(app, Message, Message.state == "moved") < 120, "too fast to interrupt: deliver more mails"
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(10)
        took = time.monotonic() - asked
    finally:
        stop_daemon(daemon)
        notify.close()
    assert status == 0, log.read_text(errors="replace")[-3000:]
    assert took < 10
    assert notify.said("READY=1") and notify.said("WATCHDOG=1") and notify.said("STOPPING=1")
    assert "finishing the mail in hand" in log.read_text(errors="replace")
    assert rows(app, Message, Message.state == "recorded") == 0, "a mail was left half-processed"

    again = subprocess.run(
        [sys.executable, "-m", "mailflow", "--config", str(tmp_path / "settings.toml"), "run", "--once"],
        capture_output=True, text=True, timeout=240,
    )
    assert again.returncode == 0, again.stderr
    assert rows(app, Message) == 120
    assert rows(app, Proposal) == 120
    assert imap_server.messages("INBOX") == []
    acks = [m.message["In-Reply-To"] for m in smtp.messages if m.message["Auto-Submitted"] == "auto-replied"]
    assert len(acks) == 120 and len(set(acks)) == 120


# -- SIGHUP: reload calendars and templates ----------------------------------------------------------


@pytest.fixture
def own_copies(tmp_path: Path) -> Path:
    """Settings whose calendars and templates are copies the test may edit (Maildir in, directory out)."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    settings = write_settings(tmp_path, handle_since="2025-01-01")  # mail may land before the first pass
    text = settings.read_text(encoding="utf-8")
    text = text.replace(f'schedules = "{REPO / "schedules"}"', 'schedules = "schedules"')
    text = text.replace(f'templates = "{REPO / "templates"}"', 'templates = "templates"')
    settings.write_text(text, encoding="utf-8")
    return tmp_path


def deliver_question(workdir: Path, n: int) -> None:
    raw = question_mail(sender=f"elu{n}@commune-{n}.example.fr").as_bytes()
    inbox = workdir / "inbox"
    for sub in ("tmp", "new", "cur"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    temporary = inbox / "tmp" / f"q{n}.eml"
    temporary.write_bytes(raw)
    temporary.rename(inbox / "new" / f"q{n}.eml")


def answer_subjects(workdir: Path) -> list[str]:
    """The subjects of the answers written to the outbox folder (the staff digest, which the daemon may
    send at any moment of a working day, left out)."""
    found = []
    for path in sorted((workdir / "outbox").glob("*.eml")):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        if mail["Auto-Submitted"] != "auto-replied":
            continue
        found.append(str(mail["Subject"]).replace("\u00a0", " "))  # French typography: a non-breaking space
    return found


def refusals(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if "reload refused" in line]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sighup_reloads_templates_and_a_broken_calendar_keeps_the_old_ones(own_copies: Path) -> None:
    """SIGHUP applies an edited template; a broken calendar or template is refused and named; mail goes on."""
    workdir = own_copies
    log = workdir / "daemon.log"
    subject = workdir / "templates" / "collectivite" / "question-recue.subject.j2"
    daemon = start_daemon(workdir)
    try:
        deliver_question(workdir, 1)
        wait_until(lambda: len(answer_subjects(workdir)) == 1, 30, "the first answer", log)
        assert "Version rechargée" not in answer_subjects(workdir)[0]

        subject.write_text("Version rechargée : votre question est bien reçue\n", encoding="utf-8")
        daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: "templates reloaded" in log.read_text(errors="replace"), 20, "reload", log)
        deliver_question(workdir, 2)
        wait_until(lambda: len(answer_subjects(workdir)) == 2, 30, "the second answer", log)
        assert "Version rechargée : votre question est bien reçue" in answer_subjects(workdir)

        calendar = workdir / "schedules" / "projet-collectif-2025-2026.toml"
        calendar.write_text(calendar.read_text(encoding="utf-8") + "\n[dates\nbroken = \n", encoding="utf-8")
        subject.write_text("Ne doit pas être utilisé\n", encoding="utf-8")
        daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in log.read_text(errors="replace"), 20, "the refusal", log)
        assert "projet-collectif-2025-2026.toml" in refusals(log)[0]

        broken = workdir / "templates" / "collectivite" / "hors-delai.txt.j2"
        broken.write_text("{% if %}\n", encoding="utf-8")
        shutil.copy(REPO / "schedules" / calendar.name, calendar)
        daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: len(refusals(log)) == 2, 20, "the second refusal", log)
        assert "hors-delai.txt.j2" in refusals(log)[1]

        deliver_question(workdir, 3)
        wait_until(lambda: len(answer_subjects(workdir)) == 3, 30, "the third answer", log)
        assert answer_subjects(workdir).count("Version rechargée : votre question est bien reçue") == 2
        assert daemon.poll() is None
    finally:
        stop_daemon(daemon)
    assert daemon.returncode == 0


# -- the watchdog is fed by progress only ------------------------------------------------------------------


class Recorder:
    """Collects sd_notify messages in memory (the in-process daemon's notifier)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def notify(self, state: str) -> None:
        self.lines.append((time.monotonic(), state))

    def watchdog_between(self, start: float, end: float) -> int:
        return sum(1 for at, line in list(self.lines) if line == "WATCHDOG=1" and start <= at < end)


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[Daemon, Recorder, threading.Event, threading.Event, threading.Event]]:
    """A daemon on a Maildir run in a thread, whose mailbox wait hangs while `hang` is set (`stuck` tells
    when it does) until `release` is set."""
    app = make_app(tmp_path)
    hang, stuck, release = threading.Event(), threading.Event(), threading.Event()
    waiting = app.mailbox.wait

    def wait(seconds, interrupted=lambda: False):  # noqa: ANN001, ANN202
        if hang.is_set():
            stuck.set()
            release.wait()  # a stuck call: no progress, no callback
        return waiting(min(seconds, 0.3), interrupted)

    app.mailbox.wait = wait  # type: ignore[method-assign]
    recorder = Recorder()
    daemon = Daemon(app, tick_seconds=0.3, notifier=recorder, monitor_seconds=3600)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        yield daemon, recorder, hang, stuck, release
    finally:
        daemon.stopping = True
        release.set()
        hang.clear()
        thread.join(10)


@pytest.mark.slow
def test_the_watchdog_is_fed_only_while_the_loop_makes_progress(in_process) -> None:  # noqa: ANN001
    """WATCHDOG=1 comes every second while the loop runs, never while it hangs, again once it moves on."""
    daemon, recorder, hang, stuck, release = in_process
    wait_until(lambda: recorder.watchdog_between(0, time.monotonic()) >= 2, 10, "two pings while the loop runs")
    hang.set()
    assert stuck.wait(10)  # the loop is in the stuck call
    stuck_from = time.monotonic()
    # an absence is seen over a window: three times the longest gap between two pings of a moving loop
    wait_until(lambda: daemon.heartbeat.age() >= 3.0, 10, "three seconds without progress")
    assert recorder.watchdog_between(stuck_from, time.monotonic()) == 0
    release.set()
    moving_from = time.monotonic()
    wait_until(lambda: recorder.watchdog_between(moving_from, time.monotonic()) >= 1, 10, "a ping once it moves on")
    assert [line for _, line in recorder.lines][0] == "READY=1"


def test_the_sender_hangs_up_once_idle_and_when_it_stops() -> None:
    """The connection a drain leaves open is closed once no drain has run for a while, not between two
    drains asked for in time, and when the sender stops."""
    events: list[str] = []
    changed = threading.Condition()

    def note(what: str) -> None:
        with changed:
            events.append(what)
            changed.notify_all()

    def seen(count: int) -> bool:
        with changed:
            return changed.wait_for(lambda: len(events) >= count, timeout=10)

    sender = Sender(lambda: note("drain"), hang_up=lambda: note("hang up"), idle_seconds=2)
    sender.start()
    sender.wake()
    sender.settle()
    sender.wake()  # within the idle time: the same connection
    sender.settle()
    assert seen(3) and events[:3] == ["drain", "drain", "hang up"]
    sender.wake()
    assert seen(4) and events[3] == "drain"
    sender.settle()
    sender.stop()
    assert events == ["drain", "drain", "hang up", "drain", "hang up"]


def test_the_outbox_is_drained_in_its_own_thread_and_a_stop_waits_for_the_drain_in_hand() -> None:
    """The pass wakes the sender and goes on; a wake during a drain runs one more drain; `settle` waits
    for a drain started after the last wake; a stop lets the drain in hand end and starts no other."""
    runs: list[str] = []
    started = threading.Semaphore(0)
    gates = [threading.Event() for _ in range(4)]  # each drain ends when the test opens its gate

    def drain() -> None:
        runs.append(threading.current_thread().name)
        started.release()
        gates[len(runs) - 1].wait(10)

    sender = Sender(drain)
    sender.start()
    sender.wake()  # returns at once: the drain runs in the sender's thread
    assert started.acquire(timeout=10) and runs == ["outbox-sender"]
    sender.wake()  # a mail filed during the drain
    settling = threading.Thread(target=sender.settle)
    settling.start()
    gates[0].set()
    assert started.acquire(timeout=10) and len(runs) == 2
    assert settling.is_alive()  # the drain under way when it was woken does not send that mail
    gates[1].set()
    settling.join(10)
    assert not settling.is_alive()
    sender.wake()
    assert started.acquire(timeout=10) and len(runs) == 3
    sender.wake()  # asked for during the drain in hand, then the daemon stops: not run
    stopping = threading.Thread(target=sender.stop)
    stopping.start()
    wait_until(lambda: sender._stopping, 10, "the stop asked for")  # noqa: SLF001
    assert stopping.is_alive()  # it waits for the drain in hand
    gates[2].set()
    stopping.join(10)
    assert not stopping.is_alive() and len(runs) == 3
