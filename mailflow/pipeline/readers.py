"""Reading mails in worker processes, beside the daemon's own work.

Reading the documents (PDF, Word, OpenDocument, the body) is most of a mail's cost and touches
nothing but the mail: it runs in a pool of worker processes (pebble) while the daemon records,
files, answers and moves the mails before it, in order and one transaction each, as without the
pool. A worker also does the rest of the mail's work that needs no database: it stores the mail in
the archive, tells whether software wrote it (a bounce, an auto-reply: `why_automatic`), and stores
its attached files from the bytes it decoded to read them. The workers are fresh interpreters
(multiprocessing's spawn) that load only what reading needs: the document libraries, not the
daemon's database, mail and web code, nor its heap, its sockets or its threads. A worker that
overruns its time budget or dies (a C library crashing on a hostile PDF) is replaced, and only
that mail is quarantined. A mail larger than `INLINE_BYTES` is read in the daemon itself, so that
it is never held whole by two processes; so is every mail while the pool cannot take work (it is
started again at the next one).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from email.message import EmailMessage

from pebble import ProcessExpired, ProcessPool

from mailflow.errors import ExtractionError
from mailflow.mail.parsing import parse
from mailflow.mail.spool import RawMail
from mailflow.memory import release_free_memory
from mailflow.pipeline.archive import Archive, KeptFile, keep_files
from mailflow.pipeline.extract import ExtractionLimits
from mailflow.pipeline.extract.documents import Collected, walk
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.reading import MailReading, read_proposals
from mailflow.pipeline.robots import why_automatic

log = logging.getLogger(__name__)

INLINE_BYTES = 4 * 1024 * 1024
PR_SET_PDEATHSIG = 1  # linux/prctl.h
TIMEOUT_FACTOR = 4  # a mail may carry several documents, each with its own time budget

Read = Callable[[EmailMessage, FormDefinition, Mapping[str, FormDefinition], ExtractionLimits, Collected | None],
               MailReading]
_worker: tuple[Read, FormDefinition, Mapping[str, FormDefinition], ExtractionLimits, Archive | None] | None = None


@dataclass(frozen=True)
class ReadAhead:
    """What a worker made of one mail: the key of the mail in the archive (None: no archive was given to
    the workers); why software wrote it (None: a person did), else its documents' reading and its attached
    files as stored in the archive."""

    stored: str | None
    automatic: str | None
    reading: MailReading | None = None
    files: tuple[KeptFile, ...] | None = None


def _start_worker(read: Read, form: FormDefinition, forms: Mapping[str, FormDefinition],
                  limits: ExtractionLimits, archive: Archive | None) -> None:
    global _worker  # noqa: PLW0603 - one worker process reads for one service: its definitions, set once
    _worker = (read, form, forms, limits, archive)
    # Code and definitions loaded at start live as long as the process: frozen, they are no longer walked
    # by every full collection, which a mail's many short-lived objects trigger again and again.
    gc.freeze()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload is the daemon's business
    with contextlib.suppress(OSError, AttributeError):  # die with the daemon, even when it is SIGKILLed
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_in_worker(raw: bytes) -> ReadAhead:
    if _worker is None:
        raise RuntimeError("reader process started without its form definitions")
    read, form, forms, limits, archive = _worker
    try:
        stored = archive.store(raw) if archive is not None else None
        parsed = parse(raw)
        automatic = why_automatic(parsed)
        if automatic:
            return ReadAhead(stored, automatic)  # never filed nor answered: nothing to read or keep
        collected = walk(parsed)
        reading = read(parsed, form, forms, limits, collected)
        files = keep_files(archive, collected[0] if collected else []) if archive is not None else None
        return ReadAhead(stored, None, reading, files)
    finally:
        release_free_memory()  # a PDF's pages and glyphs are freed: their memory goes back to the system


def default_processes() -> int:
    """One reader per CPU beyond the first (the daemon keeps one), at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


class Pending:
    """The reading of one mail under way: in a worker, or to be done here on demand. What the worker
    did not do (it failed, or the mail is read here) is done here when asked for."""

    def __init__(self, readers: Readers, future: Future[ReadAhead] | None = None):
        self._readers, self._future = readers, future

    def stored(self, archive: Archive, raw: RawMail) -> str:
        """The mail's key in `archive`, where it is stored (`raw`: its bytes)."""
        done = self._done()
        return done.stored if done is not None and done.stored is not None else archive.store(raw)

    def automatic(self, parsed: EmailMessage) -> str | None:
        """Why software wrote the mail (`why_automatic`), None when a person did."""
        done = self._done()
        return done.automatic if done is not None else why_automatic(parsed)

    def files(self, archive: Archive, collected: Collected | None) -> tuple[KeptFile, ...]:
        """The mail's attached files, stored in `archive`; `collected`: the mail as `walk` gave it."""
        done = self._done()
        if done is not None and done.files is not None:
            return done.files
        return keep_files(archive, collected[0] if collected else [])

    def result(self, parsed: EmailMessage, collected: Collected | None = None) -> MailReading:
        """What the mail's documents carry; ExtractionError (French reason) when its reader failed.
        `collected`: the mail as `walk` gave it, for a reading done here."""
        if self._future is None:
            return self._readers.read_here(parsed, collected)
        try:
            done = self._future.result()
        except FutureTimeout:
            raise ExtractionError("la lecture des pièces jointes a dépassé le temps imparti\u00a0: le message "
                                  "doit être lu par une personne") from None
        except (ProcessExpired, CancelledError) as exc:
            log.error("the reader process of a mail stopped (%s); the mail is quarantined", exc)
            raise ExtractionError("le lecteur de documents s'est arrêté pendant la lecture des pièces jointes"
                                  "\u00a0: le message doit être lu par une personne") from None
        # The worker reads no document of a mail that software wrote; asked for them all the same, they are read here.
        return done.reading if done.reading is not None else self._readers.read_here(parsed, collected)

    def _done(self) -> ReadAhead | None:
        """The worker's work, None when there was no worker or it failed (`result` tells how)."""
        if self._future is None:
            return None
        try:
            return self._future.result()
        except Exception:  # noqa: BLE001 - `result` reports the failure; what the worker did not do is done here
            return None

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()


class Readers:
    """Read mails' documents in `processes` worker processes (0: in this process) with `read`, a
    module-level function (the workers import it by name); the workers store the mails and their attached
    files in `archive` (None: the daemon stores them)."""

    def __init__(self, form: FormDefinition, forms: Mapping[str, FormDefinition], limits: ExtractionLimits,
                 processes: int | None = None, read: Read = read_proposals, archive: Archive | None = None):
        self.form, self.forms, self.limits, self.read, self.archive = form, forms, limits, read, archive
        self.processes = default_processes() if processes is None else processes
        self._pool: ProcessPool | None = None

    def start(self, raw: RawMail) -> Pending:
        """Begin reading a fetched mail (in a worker when there are workers and the mail is not big)."""
        if self.processes == 0 or not isinstance(raw, bytes) or len(raw) > INLINE_BYTES:
            return Pending(self)
        timeout = self.limits.seconds_per_document * TIMEOUT_FACTOR
        try:
            return Pending(self, self._workers().schedule(_read_in_worker, args=(raw,), timeout=timeout))
        except RuntimeError:  # pebble's pool broke down: read here, and start a new pool for the next mail
            log.exception("the reader processes cannot take work; this mail is read by the daemon itself")
            broken, self._pool = self._pool, None
            with contextlib.suppress(Exception):
                broken.stop()  # type: ignore[union-attr]
            return Pending(self)

    def read_here(self, parsed: EmailMessage, collected: Collected | None = None) -> MailReading:
        return self.read(parsed, self.form, self.forms, self.limits, collected)

    def start_workers(self) -> None:
        """Start the worker processes now, so that the first mail does not wait for their imports."""
        if self.processes:
            self._workers()

    def _workers(self) -> ProcessPool:
        if self._pool is None:
            self._pool = ProcessPool(max_workers=self.processes, initializer=_start_worker,
                                     initargs=(self.read, self.form, self.forms, self.limits, self.archive),
                                     context=multiprocessing.get_context("spawn"))
            self._pool.schedule(default_processes)  # pebble starts its workers on first use
        return self._pool

    def close(self) -> None:
        """Stop the workers (the mails they were reading are read again at the next pass)."""
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None
