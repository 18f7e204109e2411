"""The outbox, drained in a thread of its own beside the mailbox pass.

Sending is mostly waiting (for the SMTP server's answers, for the database's flush to disk), and
while one thread waits the other works: the pass files the next mails while the answers to the
last ones go out. The outbox's own claims keep the guarantees (a mail is claimed by one drain,
marked sent in its own commit), as with two daemons. Every drain of the daemon runs in this one
thread, so the SMTP connection is never shared. That connection is kept from one drain to the next
(the sender drains after each mail the pass files) and closed once the sender has been idle a while:
a backlog's answers do not each pay a connection, TLS and a login.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

IDLE_SECONDS = 10.0  # without a drain for this long, the sender hangs up (servers wait 5 minutes at least)


class Sender:
    """A thread that runs `drain` (which must not raise) each time it is woken; a wake during a drain
    runs one more. `hang_up` (which must not raise either) is run once the thread has been idle for
    `idle_seconds` after a drain, and when it stops."""

    def __init__(self, drain: Callable[[], None], hang_up: Callable[[], None] = lambda: None,
                 idle_seconds: float = IDLE_SECONDS):
        self._drain, self._hang_up, self._idle_seconds = drain, hang_up, idle_seconds
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
        """Wait until what was due at the last wake is sent (or the sender stops)."""
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
        connected = False  # a drain ran since the last hang-up
        while True:
            with self._state:
                woken = self._state.wait_for(lambda: self._stopping or self._done < self._asked,
                                             timeout=self._idle_seconds if connected else None)
                stopping, target = self._stopping, self._asked
            if stopping or not woken:
                if connected:
                    self._hang_up()
                    connected = False
                if stopping:
                    return
                continue
            self._drain()
            connected = True
            with self._state:
                self._done = target
                self._state.notify_all()
