"""SQLite writes by two threads of one process: each waits its turn, and none is kept waiting by the other.

The daemon's mailbox pass files mail after mail, one transaction each, while its sender thread marks
the answers it sent: the sender must get in between two mails, not after the backlog."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from mailflow.db import engine as db

WORK_SECONDS = 0.005  # what a mail's transaction does before it commits, in short


def test_a_thread_that_writes_again_at_once_lets_the_waiting_thread_in_next(tmp_path: Path) -> None:
    """One thread commits and begins again at once; another that wants to write is handed the turn when
    the transaction in hand ends, after at most a few of the first thread's transactions."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE written (id INTEGER PRIMARY KEY, writer TEXT)"))
    waiting, done = threading.Event(), threading.Event()
    after_waiting = []

    def other_writer() -> None:
        waiting.set()
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO written (writer) VALUES ('sender')"))
        done.set()

    second = threading.Thread(target=other_writer)

    def busy_writer() -> None:
        for n in range(2000):  # some ten seconds at most
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO written (writer) VALUES ('pass')"))
                time.sleep(WORK_SECONDS)
            if n == 0:
                second.start()
            elif waiting.is_set():
                after_waiting.append(n)
            if done.is_set():
                return

    first = threading.Thread(target=busy_writer)
    first.start()
    first.join(60)
    second.join(60)
    assert done.is_set()
    assert len(after_waiting) <= 20, f"the waiting thread got in after {len(after_waiting)} transactions of the other"
    engine.dispose()


def test_the_turn_is_given_back_when_a_transaction_ends_in_any_way(tmp_path: Path) -> None:
    """Committed, rolled back, or its connection closed in the middle: another thread can write at once."""
    path = tmp_path / "turns.sqlite3"
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE written (id INTEGER PRIMARY KEY)"))
    turn = db.write_turn(str(path))

    def free_for_another_thread() -> bool:
        taken: list[bool] = []
        other = threading.Thread(target=lambda: taken.append(turn.take(timeout=5)))
        other.start()
        other.join()
        if taken[0]:
            turn.give_back()
        return taken[0]

    connection = engine.connect()
    connection.execute(text("INSERT INTO written DEFAULT VALUES"))
    connection.commit()
    assert free_for_another_thread()
    connection.execute(text("INSERT INTO written DEFAULT VALUES"))
    connection.rollback()
    assert free_for_another_thread()
    connection.execute(text("INSERT INTO written DEFAULT VALUES"))
    connection.connection.dbapi_connection.close()  # a connection lost in the middle of its transaction
    connection.invalidate()
    assert free_for_another_thread()
    assert _count(engine) == 1
    engine.dispose()


def _count(engine) -> int:  # noqa: ANN001
    with engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM written"))


def test_a_session_that_reads_neither_waits_for_a_writer_nor_holds_one_up(tmp_path: Path) -> None:
    """While a transaction writes (the daemon filing a mail), `sessions()` reads what was committed at
    once, as the console and the commands do; and a writer is not held up by an open read."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE written (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO written DEFAULT VALUES"))
    sessions = db.session_factory(engine)
    writing, read_done = threading.Event(), threading.Event()
    seen: list[int] = []

    def writer() -> None:
        with sessions.begin() as session:
            session.execute(text("INSERT INTO written DEFAULT VALUES"))
            writing.set()
            read_done.wait(30)

    def reader() -> None:
        with sessions() as session:
            seen.append(session.scalar(text("SELECT count(*) FROM written")))
        read_done.set()

    first = threading.Thread(target=writer)
    first.start()
    assert writing.wait(30)
    second = threading.Thread(target=reader)
    second.start()
    second.join(10)
    assert read_done.is_set() and seen == [1], "the read waited for the writer"
    first.join(30)
    with sessions() as session:
        session.scalar(text("SELECT count(*) FROM written"))  # a read left open…
        with sessions.begin() as other:  # …while another session writes
            other.execute(text("INSERT INTO written DEFAULT VALUES"))
        assert session.scalar(text("SELECT count(*) FROM written")) == 2  # its snapshot
    with sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM written")) == 3
    engine.dispose()
