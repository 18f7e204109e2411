"""Where mail comes from: the `Mailbox` protocol, with an IMAP and a Maildir implementation.

The pipeline never talks IMAP itself; it lists what is waiting, fetches it in batches,
and tells the mailbox where to move each mail once it is safely recorded.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox as stdlib_mailbox
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailflow.errors import AuthenticationError, MailboxError
from mailflow.mail.imap_support import aware, batches, hierarchy, is_news, session_ended, text, without_trace
from mailflow.mail.oauth import IMAP_REFUSED_HINT, TokenSource
from mailflow.mail.parsing import header_block
from mailflow.mail.spool import PIECE_BYTES, SPOOL_BYTES, RawMail, SpooledMail, spool
from mailflow.settings import MailboxSettings

log = logging.getLogger(__name__)

NETWORK_ERRORS = (IMAPClientError, OSError, socket.timeout, ssl.SSLError)


@dataclass(frozen=True)
class MailRef:
    """A mail waiting in the watched folder, before its body is fetched: where, how big, when, flags."""

    key: str
    size: int
    uid: int | None = None
    received_at: datetime | None = None
    flags: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Staff (or their mail client) already answered it."""
        return "\\Answered" in self.flags


@dataclass(frozen=True)
class IncomingMail:
    """A fetched mail: `raw` is only the headers over the size limit, a file (SpooledMail) over SPOOL_BYTES;
    `received_at` is None when the server gave no arrival time (the pipeline's clock dates it then)."""

    ref: MailRef
    raw: RawMail
    received_at: datetime | None
    truncated: bool = False


class Mailbox(Protocol):
    """A folder that mailflow watches and files mail out of."""

    name: str

    def connect(self) -> None: ...
    def close(self) -> None: ...
    def uidvalidity(self) -> int | None: ...
    def waiting(self, since: datetime | None = None) -> list[MailRef]: ...
    def fetch(self, refs: Sequence[MailRef]) -> Iterator[IncomingMail]: ...
    def move(self, refs: Sequence[MailRef], folder: str) -> set[str]: ...
    def wait(self, seconds: float, interrupted: Callable[[], bool] = lambda: False) -> None: ...


class MaildirMailbox:
    """A local Maildir: the embedded default and the demo. Received time is the file's delivery time."""

    def __init__(self, path: Path, max_message_bytes: int, poll_seconds: float = 5.0, *, readonly: bool = False,
                 spool: Path | None = None):
        self.path, self.spool = path, spool
        self.name = f"maildir:{path.resolve()}"
        self.max_message_bytes = max_message_bytes
        self.poll_seconds = poll_seconds
        self.readonly = readonly  # look only: the Maildir is neither created nor cleaned
        self._box: stdlib_mailbox.Maildir | None = None

    def connect(self) -> None:
        if self.readonly:
            if (self.path / "cur").is_dir():  # absent: nothing delivered yet (created by the first run)
                self._box = stdlib_mailbox.Maildir(self.path, factory=None, create=False)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._box = stdlib_mailbox.Maildir(self.path, factory=None, create=True)

    def close(self) -> None:
        self._box = None

    def uidvalidity(self) -> int | None:
        return None

    def _opened(self) -> stdlib_mailbox.Maildir:
        if self._box is None:
            self.connect()
        assert self._box is not None
        return self._box

    def waiting(self, since: datetime | None = None) -> list[MailRef]:
        """Every mail in the Maildir (delivered `since` that moment when given), with its size and flags."""
        if self.readonly and not (self.path / "cur").is_dir():
            return []
        box = self._opened()
        if not self.readonly:
            box.clean()
        refs = []
        for key in sorted(box.iterkeys()):
            try:
                subpath = box._lookup(key)  # noqa: SLF001
                stat = Path(self.path, subpath).stat()
            except (KeyError, FileNotFoundError):
                continue
            delivered = datetime.fromtimestamp(stat.st_mtime, UTC)
            if since is not None and delivered.replace(microsecond=0) < since.replace(microsecond=0):
                continue
            info = subpath.rpartition(":2,")[2] if ":2," in subpath else ""
            flags = tuple(flag for letter, flag in MAILDIR_FLAGS.items() if letter in info)
            refs.append(MailRef(key=key, size=stat.st_size, received_at=delivered, flags=flags))
        return refs

    def fetch(self, refs: Sequence[MailRef]) -> Iterator[IncomingMail]:
        if not refs:  # nothing listed: a Maildir looked at read-only may not exist yet
            return
        box = self._opened()
        for ref in refs:
            try:
                file = Path(self.path, box._lookup(ref.key))  # noqa: SLF001
                delivered = datetime.fromtimestamp(file.stat().st_mtime, UTC)
                with file.open("rb") as handle:
                    truncated = ref.size > self.max_message_bytes
                    raw: RawMail = header_block(handle.read(64 * 1024)) if truncated else (
                        SpooledMail.written(iter(partial(handle.read, PIECE_BYTES), b""), self.spool)
                        if ref.size > SPOOL_BYTES else handle.read())
            except (KeyError, FileNotFoundError):
                continue
            yield IncomingMail(ref=ref, raw=raw, received_at=delivered, truncated=truncated)

    def move(self, refs: Sequence[MailRef], folder: str) -> set[str]:
        """Move the mails to `folder`; the keys of those moved (not those gone meanwhile)."""
        box = self._opened()
        target = box.add_folder(folder.replace("/", "."))
        moved = {ref.key for ref in refs if ref.key in box}
        for key in moved:
            target.add(box.get_message(key))
            box.discard(key)
        return moved

    def wait(self, seconds: float, interrupted: Callable[[], bool] = lambda: False) -> None:
        _sleep(min(seconds, self.poll_seconds), interrupted)


MAILDIR_FLAGS = {"R": "\\Answered", "S": "\\Seen", "F": "\\Flagged"}


class ImapMailbox:
    """An IMAP folder, watched with IDLE where the server has it, polled otherwise."""

    def __init__(self, settings: MailboxSettings, token_source: TokenSource | None = None, *, readonly: bool = False,
                 spool: Path | None = None):
        self.settings = settings
        self.spool = spool  # where a big mail is fetched to (None: the system's temporary folder)
        self.token_source = token_source
        self.readonly = readonly  # EXAMINE, no folder created, no move: `check` and `--dry-run`
        self.name = f"imap://{settings.username}@{settings.host}:{settings.port}/{settings.folder}"
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self.idle_supported = False
        self.separator = "/"
        self.prefix = ""

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        try:
            client = without_trace(IMAPClient(
                s.host, port=s.port, ssl=s.security == "tls", ssl_context=context, timeout=s.timeout_seconds
            ))
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"IMAP {s.host}:{s.port}: {text(exc)}") from exc
        try:
            self._open(client)
        except BaseException:
            _shutdown(client)
            raise
        self._client = client

    def _open(self, client: IMAPClient) -> None:
        s = self.settings
        try:
            client.normalise_times = False
            if s.security == "starttls":
                client.starttls(ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None))
            self._login(client)
            selected = client.select_folder(s.folder, readonly=self.readonly)
            self._uidvalidity = int(selected[b"UIDVALIDITY"])
            self.prefix, self.separator = hierarchy(client)
            if not self.readonly:
                for folder in (s.processed_folder, s.attention_folder, s.ignored_folder):
                    path = self.folder_path(folder)
                    if not client.folder_exists(path):
                        client.create_folder(path)
                        log.info("created the folder %s on %s", path, s.host)
            self.idle_supported = s.idle and client.has_capability("IDLE")
        except LoginError as exc:
            hint = ""
            if s.auth == "oauth2":

                hint = f"; {IMAP_REFUSED_HINT}"
            raise AuthenticationError(
                f"IMAP {s.host}:{s.port}: login refused for {s.username} ({text(exc)}){hint}"
            ) from exc
        except NETWORK_ERRORS as exc:
            raise MailboxError(f"IMAP {s.host}:{s.port}: {text(exc)}") from exc

    def _login(self, client: IMAPClient) -> None:
        s = self.settings
        if s.auth == "oauth2":
            if self.token_source is None:
                raise AuthenticationError("IMAP: auth = \"oauth2\" but no token source is configured")
            client.oauth2_login(s.username, self.token_source())
            return
        password = s.password()
        if password is None:
            raise AuthenticationError(f"IMAP {s.host}: no password configured (password_env or password_file)")
        client.login(s.username, password)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*NETWORK_ERRORS):
                client.logout()

    def _connected(self) -> IMAPClient:
        if self._client is None:
            self.connect()
        assert self._client is not None
        return self._client

    def uidvalidity(self) -> int | None:
        self._connected()
        return self._uidvalidity

    def folder_path(self, folder: str) -> str:
        """A folder of the settings ("mailflow/Traités") as this server names it (its prefix and separator)."""
        path = self.separator.join(part for part in folder.split("/") if part)
        if self.prefix and path.upper() != "INBOX" and not path.startswith(self.prefix):
            path = self.prefix + path
        return path

    # -- reading ----------------------------------------------------------------------------
    def waiting(self, since: datetime | None = None) -> list[MailRef]:
        """The mails in the folder (received `since` then, narrowed by day on the server): size, date, flags."""
        criteria: list[Any] = ["UNDELETED"]
        if since is not None:
            criteria += ["SINCE", (since - timedelta(days=1)).date()]
        with self._exchange() as client:
            client.noop()  # let the server tell us about mail delivered since the last command
            uids = client.search(criteria)
            if not uids:
                return []
            found = client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE", "FLAGS"])
        refs = []
        for uid, data in sorted(found.items()):
            internal = data.get(b"INTERNALDATE")
            received = aware(internal) if isinstance(internal, datetime) else None
            if since is not None and received is not None and received < since.replace(microsecond=0):
                continue
            flags = tuple(text(flag) for flag in data.get(b"FLAGS", ()))
            refs.append(MailRef(key=str(uid), uid=uid, size=int(data.get(b"RFC822.SIZE", 0)),
                                received_at=received, flags=flags))
        return refs

    def fetch(self, refs: Sequence[MailRef]) -> Iterator[IncomingMail]:
        limit = self.settings.max_message_bytes
        whole = [r for r in refs if r.size <= limit]
        large = [r for r in refs if r.size > limit]
        yield from self._fetch_batches(whole, b"BODY[]", "BODY.PEEK[]", truncated=False)
        yield from self._fetch_batches(large, b"BODY[HEADER]", "BODY.PEEK[HEADER]", truncated=True)

    def _fetch_batches(self, refs: Sequence[MailRef], key: bytes, item: str, *,
                       truncated: bool) -> Iterator[IncomingMail]:
        """The mails in order, a batch per command; a mail over SPOOL_BYTES in pieces, into a file."""
        by_uid = {r.uid: r for r in refs}
        for batch in batches(list(by_uid), self.settings.batch_size, lambda uid: by_uid[uid].size):
            spooled = {uid for uid in batch if not truncated and by_uid[uid].size > SPOOL_BYTES}
            data = self._fetch([uid for uid in batch if uid not in spooled], [item])
            for uid in batch:
                raw = self._spooled(by_uid[uid]) if uid in spooled else (data.get(uid) or {}).get(key)
                if raw is not None:  # None: expunged meanwhile
                    yield IncomingMail(ref=by_uid[uid], raw=raw, received_at=by_uid[uid].received_at,
                                       truncated=truncated)

    def _spooled(self, ref: MailRef) -> SpooledMail | None:
        """A big mail fetched a piece at a time into a file; None (and a warning) when it is gone or bodiless."""
        def piece(offset: int) -> bytes | None:
            found = self._fetch([ref.uid], [f"BODY.PEEK[]<{offset}.{PIECE_BYTES}>"])  # NIL past the end: b""
            return (found[ref.uid].get(f"BODY[]<{offset}>".encode()) or b"") if ref.uid in found else None
        spooled = spool(piece, self.spool)
        if spooled is None or len(spooled) != ref.size:
            log.warning("mail UID %s: %s bytes fetched, %d announced by the server", ref.uid,
                        len(spooled) if spooled is not None else "no", ref.size)
        return spooled

    def _fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        with self._exchange() as client:
            return client.fetch(uids, items) if uids else {}

    # -- filing -----------------------------------------------------------------------------
    def move(self, refs: Sequence[MailRef], folder: str) -> set[str]:
        """Move the mails to `folder` in one command; the keys of those moved (not those staff moved
        or deleted meanwhile)."""
        if self.readonly:
            raise MailboxError(f"IMAP {self.settings.host}: read-only session, nothing is moved")
        uids, path = ",".join(str(ref.uid) for ref in refs if ref.uid is not None), self.folder_path(folder)
        with self._exchange(f"move to {path}: ") as client:
            present = client.search(["UID", uids, "UNDELETED"]) if uids else []
            if present and client.has_capability("MOVE"):
                client.move(present, path)
            elif present:
                client.copy(present, path)
                client.delete_messages(present)
                client.uid_expunge(present)
        return {str(uid) for uid in present}

    # -- waiting ----------------------------------------------------------------------------
    def wait(self, seconds: float, interrupted: Callable[[], bool] = lambda: False) -> None:
        """Return when the server reports new mail, or soon after `interrupted()`; with IDLE, also after
        `seconds` (the daemon's own look at the folder) or `idle_renew_seconds` (under RFC 2177's 29
        minutes), whichever comes first; without IDLE, after `poll_seconds`, as the settings ask."""
        self._connected()
        if not self.idle_supported:
            _sleep(self.settings.poll_seconds, interrupted)
            return
        deadline = time.monotonic() + min(seconds, self.settings.idle_renew_seconds)
        ended = False  # the server said BYE or closed the connection: connect again now, not when IDLE ends
        with self._exchange("IDLE: ") as client:
            client.idle()
            try:
                while time.monotonic() < deadline and not interrupted():
                    responses = client.idle_check(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
                    ended = session_ended(responses, client.socket())
                    if ended or any(is_news(r) for r in responses):
                        break
            finally:
                if not ended:
                    client.idle_done()
            if ended:
                raise IMAPClientAbortError("the server ended the session")

    @contextlib.contextmanager
    def _exchange(self, doing: str = "") -> Iterator[IMAPClient]:
        """The connection, for one exchange with the server: a network error drops it (the next exchange
        connects again) and is raised as a MailboxError, `doing` saying what failed."""
        try:
            yield self._connected()
        except NETWORK_ERRORS as exc:
            self._drop()
            raise MailboxError(f"IMAP {self.settings.host}: {doing}{text(exc)}") from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _shutdown(client)


def make_mailbox(
    settings: MailboxSettings, base: Path, token_source: TokenSource | None = None, *, readonly: bool = False,
    spool: Path | None = None,
) -> Mailbox:
    """The mailbox the settings describe (paths relative to `base`); `readonly`: look, never change;
    `spool`: the folder, on disk, where a big mail is fetched to."""
    if settings.kind == "imap":
        return ImapMailbox(settings, token_source, readonly=readonly, spool=spool)
    path = settings.path if settings.path.is_absolute() else base / settings.path
    return MaildirMailbox(path, settings.max_message_bytes, poll_seconds=min(settings.poll_seconds, 5),
                          readonly=readonly, spool=spool)


def _shutdown(client: IMAPClient) -> None:
    """Close a connection that is broken or half-open; there is nothing left to save on it."""
    with contextlib.suppress(Exception):
        client.shutdown()


def _sleep(seconds: float, interrupted: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not interrupted() and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
