"""The outbox, drained in a thread of its own beside the mailbox pass.

Sending is mostly waiting (for the SMTP server's answers, for the database's flush to disk), and
while one thread waits the other works: the pass files the next mails while the answers to the
last ones go out. The outbox's own claims keep the guarantees (a mail is claimed by one drain,
marked sent in its own commit), as with two daemons. Every drain of the daemon runs in this one
thread, so the SMTP connection is never shared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Sender:
    """A thread that runs `drain` (which must not raise) each time it is woken; a wake during a drain
    runs one more."""

    def __init__(self, drain: Callable[[], None]):
        self._drain = drain
        self._woken = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Send what is due, soon (not in the caller's thread)."""
        self._woken.set()

    def stop(self) -> None:
        """Let a running drain end (it marks every mail it sends), start no other, and wait for the thread."""
        self._stopping = True
        self._woken.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            self._woken.wait()
            if self._stopping:
                break
            self._woken.clear()
            self._drain()
