"""Small IMAP helpers: the server's own folder names (prefix and separator), response decoding, fetch batches."""

from __future__ import annotations

import contextlib
import os
import select
import socket
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

# Mail fetched or read ahead at once: at most this many bytes (a bigger mail comes alone).
BATCH_BYTES = 16 * 1024 * 1024
Item = TypeVar("Item")


def without_trace(client: IMAPClient) -> IMAPClient:
    """`client` with imaplib's protocol trace off. IMAPClient turns it on and hands it to a logger that
    drops it, but imaplib writes each response first, a fetched mail as its repr (up to four times its
    size): a 27 MB mail cost 60 MB more at its peak and the time of the repr, every mail its own, and a
    DEBUG log level would have written whole mails to the logs. IMAPClient's own command log stays."""
    client._imap.debug = 0  # noqa: SLF001 - IMAPClient offers no switch for the trace it turns on
    return client


def hierarchy(client: IMAPClient) -> tuple[str, str]:
    """The personal namespace's prefix and hierarchy separator, as the server states them."""
    with contextlib.suppress(IMAPClientError):
        if client.has_capability("NAMESPACE"):
            personal = client.namespace().personal
            if personal:
                prefix, separator = personal[0]
                if separator:
                    return text(prefix or ""), text(separator)
    with contextlib.suppress(IMAPClientError, IndexError):
        listed = client.list_folders("", "")
        if listed and listed[0][1]:
            return "", text(listed[0][1])
    return "", "/"


def is_news(response: tuple) -> bool:
    """An IDLE response that announces new mail."""
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


def session_ended(responses: list[tuple], connection: socket.socket) -> bool:
    """Whether the server ended an IDLE session: it said `BYE`, or closed the connection. imapclient's
    `idle_check` returns no response at the end of the stream, so the stream is peeked at (on a copy of
    the raw socket, below TLS), without reading anything."""
    if any(isinstance(r[0], bytes) and r[0].upper() == b"BYE" for r in responses if r):
        return True
    waiting = select.poll()
    waiting.register(connection.fileno(), select.POLLIN)
    if responses or not waiting.poll(0):
        return False
    with socket.socket(fileno=os.dup(connection.fileno())) as raw:
        try:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


def batches(items: Iterable[Item], count: int, size: Callable[[Item], int],
            max_bytes: int = BATCH_BYTES) -> Iterator[list[Item]]:
    """`items` in order, in batches of at most `count` items and `max_bytes` bytes (a bigger item alone),
    so that a mailbox holding many large mails is never read into memory fifty at a time."""
    batch: list[Item] = []
    total = 0
    for item in items:
        if batch and (len(batch) >= count or total + size(item) > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size(item)
    if batch:
        yield batch


def aware(value: datetime) -> datetime:
    """A server time as an aware UTC datetime."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def text(value: object) -> str:
    """Bytes, an exception or anything else from the IMAP library, as text."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, BaseException):
        return str(value) or value.__class__.__name__
    return str(value)
