"""Reading documents in worker processes: the same result as reading in the daemon, and a reader that
dies or overruns costs only its own mail, which is quarantined with a reason staff can act on."""

from __future__ import annotations

import mailbox
import random
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.db.models import Attachment, Message, QuarantineEntry
from mailflow.errors import ExtractionError
from mailflow.mail.parsing import parse
from mailflow.mail.spool import SPOOL_BYTES, SpooledMail
from mailflow.pipeline import readers as readers_module
from mailflow.pipeline.archive import Archive, content_hash
from mailflow.pipeline.extract import ExtractionLimits
from mailflow.pipeline.readers import Readers
from mailflow.pipeline.run import ingest_pass
from tests.factories import collectivity, form_docx, make_app, proposal_mail
from tests.fixtures import LOOPBACK
from tests.reader_probe import DAEMON_ONLY, dies_on_the_first, never_ends, reads_without_the_daemons_code

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def word_mail(n: int) -> EmailMessage:
    values = collectivity(n)
    message = proposal_mail(values, subject=f"Proposition {n}")
    message.clear_content()
    message.set_content("Bonjour,\nvous trouverez ci-joint notre fiche.\n")
    message.add_attachment(form_docx(values), maintype="application", subtype=DOCX.split("/")[1],
                           filename="fiche.docx")
    return message


def attached(message: EmailMessage) -> bytes:
    return next(message.iter_attachments()).get_content()


def ingest_with(app, pool: Readers) -> dict[str, int]:  # noqa: ANN001
    """One pass over the mailbox with the reader processes of `pool`, stopped after it: the verdicts."""
    try:
        return dict(ingest_pass(app, readers=pool).verdicts)
    finally:
        pool.close()


@pytest.fixture
def readers(tmp_path: Path):  # noqa: ANN201
    app = make_app(tmp_path)
    made = Readers(app.form, app.forms, app.limits, processes=1)
    made.start_workers()
    yield app, made
    made.close()


def test_a_worker_reads_what_the_daemon_would_read(readers) -> None:  # noqa: ANN001
    """A Word form and a form typed in the body: the worker's reading equals the daemon's own."""
    app, pool = readers
    for message in (word_mail(1), proposal_mail(collectivity(2))):
        raw = message.as_bytes()
        parsed = parse(raw)
        found = pool.start(raw).result(parsed)
        assert found == pool.read_here(parsed)
        assert len(found.forms) == 1 and found.unreadable == ()


def test_a_reader_process_loads_only_the_reading_code(tmp_path: Path) -> None:
    """A reader is a fresh interpreter that loads the document libraries only: none of the daemon's
    database, mail, scheduling or web code, which would cost memory for nothing."""
    app = make_app(tmp_path)
    pool = Readers(app.form, app.forms, app.limits, processes=1, read=reads_without_the_daemons_code)
    try:
        raw = word_mail(7).as_bytes()
        assert len(pool.start(raw).result(parse(raw)).forms) == 1
    finally:
        pool.close()


def test_the_console_script_loads_the_command_only_when_called() -> None:
    """A reader process runs the `mailflow` script's module again before it reads: that module must not
    load the application."""
    script = ("import sys, mailflow.entry; loaded = {m.split('.')[0] for m in sys.modules} | set(sys.modules); "
              "print(sorted(loaded & set(sys.argv[1:])))")
    result = subprocess.run([sys.executable, "-c", script, *DAEMON_ONLY, "mailflow.cli", "mailflow.service.app"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_reader_that_dies_quarantines_its_mail_and_the_next_is_filed(tmp_path: Path) -> None:
    """The reader process of one mail dies (as a C library crashing on a hostile file would): that mail is
    quarantined, the daemon goes on, and the next mail is read by a fresh worker and filed."""
    app = make_app(tmp_path)
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    first = word_mail(1)
    for message in (first, word_mail(2)):
        box.add(message.as_bytes())
    pool = Readers(app.form, app.forms, app.limits, processes=1, read=dies_on_the_first)
    assert ingest_with(app, pool) == {"quarantined": 1, "proposal": 1}
    with app.sessions() as session:
        (entry,) = session.scalars(select(QuarantineEntry))
        assert "le lecteur de documents s'est arrêté" in entry.reason
        assert entry.message.subject == "Proposition 1"
        (kept,) = entry.message.attachments  # stored by the daemon, as its reader could not
        assert app.archive.load(kept.content_hash) == attached(first)


def test_the_worker_stores_the_mail_and_its_files_and_tells_software_written_mail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker that reads a mail also stores it in the archive, tells whether software wrote it, and
    stores the files attached to a person's mail from the bytes it decoded to read them: the daemon does
    none of it (here it cannot) and lists the files. Nothing of an auto-reply is read or kept but the mail."""
    app = make_app(tmp_path)
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    person, robot = word_mail(4), word_mail(5)
    robot["Auto-Submitted"] = "auto-replied"
    for message in (person, robot):
        box.add(message.as_bytes())

    def not_here(*_args: object) -> None:
        raise AssertionError("done in the daemon, not in the reader process")

    monkeypatch.setattr(readers_module, "keep_files", not_here)
    monkeypatch.setattr(readers_module, "why_automatic", not_here)
    monkeypatch.setattr(app.archive, "store", not_here)
    pool = Readers(app.form, app.forms, app.limits, processes=1, archive=Archive(app.archive.root))
    assert ingest_with(app, pool) == {"proposal": 1, "ignored": 1}
    with app.sessions() as session:
        rows = {row.subject: row for row in session.scalars(select(Message))}
        for row, message in ((rows["Proposition 4"], person), (rows["Proposition 5"], robot)):
            assert app.archive.load(row.content_hash) == message.as_bytes()
        (kept,) = rows["Proposition 4"].attachments
        assert kept.filename == "fiche.docx" and kept.size == len(attached(person))
        assert app.archive.load(kept.content_hash) == attached(person)
        ignored = rows["Proposition 5"]
        assert ignored.reason.startswith("réponse automatique (Auto-Submitted: auto-replied)")
        assert ignored.attachments == []
    assert content_hash(attached(robot)) not in app.archive


def test_a_big_mail_is_spooled_to_a_file_and_read_by_the_daemon_itself(tmp_path: Path) -> None:
    """A mail over 4 MB (a Word form and a scanned annex) is copied from the Maildir to an unnamed file,
    not read into memory whole, nor sent whole to a reader process: it is read by the daemon, from that
    file, and filed with its form; the annex is archived as it was sent."""
    app = make_app(tmp_path)
    annex = random.Random(8).randbytes(4_500_000)
    message = word_mail(6)
    message.add_attachment(annex, maintype="image", subtype="jpeg", filename="annexe.jpg")
    mailbox.Maildir(tmp_path / "inbox", create=True).add(message.as_bytes())
    (incoming,) = app.mailbox.fetch(app.mailbox.waiting())
    assert isinstance(incoming.raw, SpooledMail) and len(incoming.raw) > SPOOL_BYTES
    incoming.raw.close()
    assert ingest_with(app, Readers(app.form, app.forms, app.limits, processes=1)) == {"proposal": 1}
    with app.sessions() as session:
        (kept,) = session.scalars(select(Attachment).where(Attachment.filename == "annexe.jpg"))
        assert app.archive.load(kept.content_hash) == annex


def test_a_reader_over_its_time_is_stopped_and_its_mail_set_aside(tmp_path: Path) -> None:
    """A reading that never ends (a pathological file in C code the time checks cannot reach) is stopped
    after its budget; the mail gets a French reason instead of hanging the daemon."""
    app = make_app(tmp_path)
    pool = Readers(app.form, app.forms, ExtractionLimits(seconds_per_document=0.5), processes=1, read=never_ends)
    try:
        raw = word_mail(3).as_bytes()
        with pytest.raises(ExtractionError, match="dépassé le temps imparti"):
            pool.start(raw).result(parse(raw))
    finally:
        pool.close()


def test_when_the_pool_cannot_take_work_the_daemon_reads_the_mail_itself(readers) -> None:  # noqa: ANN001
    """pebble refusing work (its pool broken) does not cost the mail: it is read in the daemon, and the
    next mail goes to a new pool."""
    _, pool = readers

    class Broken:
        def schedule(self, *_args, **_kwargs):  # noqa: ANN202
            raise RuntimeError("Unexpected error within the Pool")

        def stop(self) -> None:
            pass

    pool._pool = Broken()  # noqa: SLF001 - the state pebble leaves after an internal error
    raw = word_mail(4).as_bytes()
    parsed = parse(raw)
    assert len(pool.start(raw).result(parsed).forms) == 1
    assert pool._pool is None  # noqa: SLF001
    raw = word_mail(5).as_bytes()
    assert len(pool.start(raw).result(parse(raw)).forms) == 1


def test_readers_keep_none_of_the_daemons_network_connections(readers) -> None:  # noqa: ANN001
    """Readers hold no copy of the daemon's TCP sockets: once the daemon closes one, it is closed
    (a PostgreSQL session would otherwise keep the leadership lock; here a listening port is free again)."""
    _, pool = readers
    pool.close()
    listener = socket.create_server((LOOPBACK, 0))
    port = listener.getsockname()[1]
    pool.start_workers()
    raw = word_mail(6).as_bytes()
    assert len(pool.start(raw).result(parse(raw)).forms) == 1  # the worker has started
    listener.close()
    socket.create_server((LOOPBACK, port)).close()


class _Journal(Readers):
    """Readers that note, when each mail's reading starts, how many mails are still in the inbox."""

    def __init__(self, app, inbox: mailbox.Maildir, journal: list[tuple[str, int]]) -> None:  # noqa: ANN001
        super().__init__(app.form, app.forms, app.limits, processes=0)
        self.inbox, self.journal = inbox, journal

    def start(self, raw):  # noqa: ANN001, ANN201
        self.journal.append((parse(raw)["Subject"], len(self.inbox)))
        return super().start(raw)


def test_the_next_batch_is_being_read_before_this_one_is_moved(tmp_path: Path) -> None:
    """With batches of two, the readers are given the second batch before the first is moved out of the
    inbox, so that they read while the daemon talks to the server; every mail is still filed once, and
    `after_mail` runs once a mail is filed."""
    app = make_app(tmp_path)
    app.settings = app.settings.model_copy(
        update={"mailbox": app.settings.mailbox.model_copy(update={"batch_size": 2})})
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    for n in (1, 2, 3, 4):
        box.add(proposal_mail(collectivity(n), subject=f"Proposition {n}").as_bytes())
    journal: list[tuple[str, int]] = []
    filed: list[int] = []
    report = ingest_pass(app, readers=_Journal(app, box, journal), after_mail=lambda: filed.append(len(filed)))
    assert sorted(subject for subject, _ in journal) == [f"Proposition {n}" for n in (1, 2, 3, 4)]
    assert [left for _, left in journal] == [4, 4, 4, 4]  # the second batch: the first is still there
    assert dict(report.verdicts) == {"proposal": 4} and report.moved == 4 and len(box) == 0
    assert filed == [0, 1, 2, 3]
