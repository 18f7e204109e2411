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
        self._state = threading.Condition()
        self._asked = self._done = 0  # wakes asked for; wakes answered by a finished drain
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Send what is due, soon (not in the caller's thread)."""
        with self._state:
            self._asked += 1
            self._state.notify_all()

    def settle(self) -> None:
        """Wait until what was due at the last wake is sent (or the sender stops).

        With SQLite one thread writes at a time, and a pass that files mail after mail would keep the
        sender waiting: the pass settles after each batch, so that a backlog is answered batch by batch."""
        with self._state:
            target = self._asked
            self._state.wait_for(lambda: self._done >= target or self._stopping or not self._thread.is_alive())

    def stop(self) -> None:
        """Let a running drain end (it marks every mail it sends), start no other, and wait for the thread."""
        with self._state:
            self._stopping = True
            self._state.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: self._stopping or self._done < self._asked)
                if self._stopping:
                    return
                target = self._asked
            self._drain()
            with self._state:
                self._done = target
                self._state.notify_all()
