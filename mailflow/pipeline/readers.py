"""Reading mails' documents in worker processes, beside the daemon's own work.

Reading the documents (PDF, Word, OpenDocument, the body) is most of a mail's cost and touches
nothing but the mail: it runs in a pool of worker processes (pebble) while the daemon records,
files, answers and moves the mails before it, in order and one transaction each, as without the
pool. The workers are forked from the daemon when it starts (`start_workers`, before its threads),
so they share its loaded code instead of loading their own. A worker that overruns its time budget
or dies (a C library crashing on a hostile PDF) is replaced, and only that mail is quarantined. A
mail larger than `INLINE_BYTES` is read in the daemon itself, so that it is never held whole by two
processes; so is every mail while the pool cannot take work (it is started again at the next one).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import stat
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from email.message import EmailMessage

from pebble import ProcessExpired, ProcessPool

from mailflow.errors import ExtractionError
from mailflow.mail.parsing import parse
from mailflow.memory import release_free_memory
from mailflow.pipeline.extract import ExtractionLimits
from mailflow.pipeline.extract.documents import Collected
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.reading import MailReading, read_proposals

log = logging.getLogger(__name__)

INLINE_BYTES = 4 * 1024 * 1024
PR_SET_PDEATHSIG = 1  # linux/prctl.h
TIMEOUT_FACTOR = 4  # a mail may carry several documents, each with its own time budget

_worker: tuple[FormDefinition, Mapping[str, FormDefinition], ExtractionLimits] | None = None


def _start_worker(form: FormDefinition, forms: Mapping[str, FormDefinition], limits: ExtractionLimits) -> None:
    global _worker  # noqa: PLW0603 - one worker process reads for one service: its definitions, set once
    _worker = (form, forms, limits)
    _close_network_sockets()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload is the daemon's business
    with contextlib.suppress(OSError, AttributeError):  # die with the daemon, even when it is SIGKILLed
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _close_network_sockets() -> None:
    """Close the TCP sockets forked from the daemon (its database, IMAP and SMTP connections): a copy
    held here would keep them open after the daemon closes its own, such as the PostgreSQL session
    that holds the leadership lock. The pipes to the pool are Unix sockets and stay."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    continue
                probe = socket.socket(fileno=fd)
            except OSError:
                continue
            family = probe.family
            probe.detach()
            if family in (socket.AF_INET, socket.AF_INET6):
                os.close(fd)


def _read_in_worker(raw: bytes) -> MailReading:
    if _worker is None:
        raise RuntimeError("reader process started without its form definitions")
    form, forms, limits = _worker
    try:
        return read_proposals(parse(raw), form, forms, limits)
    finally:
        release_free_memory()  # a PDF's pages and glyphs are freed: their memory goes back to the system


def default_processes() -> int:
    """One reader per CPU beyond the first (the daemon keeps one), at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


class Pending:
    """The reading of one mail under way: in a worker, or to be done here on demand."""

    def __init__(self, readers: Readers, future: Future[MailReading] | None = None):
        self._readers, self._future = readers, future

    def result(self, parsed: EmailMessage, collected: Collected | None = None) -> MailReading:
        """What the mail's documents carry; ExtractionError (French reason) when its reader failed.
        `collected`: the mail as `walk` gave it, for a reading done here."""
        if self._future is None:
            return self._readers.read_here(parsed, collected)
        try:
            return self._future.result()
        except FutureTimeout:
            raise ExtractionError("la lecture des pièces jointes a dépassé le temps imparti\u00a0: le message "
                                  "doit être lu par une personne") from None
        except (ProcessExpired, CancelledError) as exc:
            log.error("the reader process of a mail stopped (%s); the mail is quarantined", exc)
            raise ExtractionError("le lecteur de documents s'est arrêté pendant la lecture des pièces jointes"
                                  "\u00a0: le message doit être lu par une personne") from None

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()


class Readers:
    """Read mails' documents in `processes` worker processes (0: in this process)."""

    def __init__(self, form: FormDefinition, forms: Mapping[str, FormDefinition], limits: ExtractionLimits,
                 processes: int | None = None):
        self.form, self.forms, self.limits = form, forms, limits
        self.processes = default_processes() if processes is None else processes
        self._pool: ProcessPool | None = None

    def start(self, raw: bytes) -> Pending:
        """Begin reading a fetched mail (in a worker when there are workers and the mail is not big)."""
        if self.processes == 0 or len(raw) > INLINE_BYTES:
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
        return read_proposals(parsed, self.form, self.forms, self.limits, collected)

    def start_workers(self) -> None:
        """Fork the worker processes now (the daemon does it before starting any thread of its own)."""
        if self.processes:
            gc.freeze()  # the objects loaded so far stay shared with the workers (no GC writes to their pages)
            self._workers()

    def _workers(self) -> ProcessPool:
        if self._pool is None:
            self._pool = ProcessPool(max_workers=self.processes, initializer=_start_worker,
                                     initargs=(self.form, self.forms, self.limits),
                                     context=multiprocessing.get_context("fork"))
            self._pool.schedule(default_processes)  # pebble forks its workers on first use
        return self._pool

    def close(self) -> None:
        """Stop the workers (the mails they were reading are read again at the next pass)."""
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None
