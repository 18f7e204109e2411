"""Small facts about the running service, kept in the database for `mailflow status` and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailflow.db.models import ServiceState


def put_state(session: Session, key: str, value: dict[str, Any], now: datetime) -> None:
    """Set `key` (not committed)."""
    row = session.get(ServiceState, key)
    if row is None:
        session.add(ServiceState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def get_state(session: Session, key: str) -> ServiceState | None:
    """The row for `key`, or None."""
    return session.get(ServiceState, key)


def note_mailbox(sessions: sessionmaker[Session], now: datetime, *, mode: str, error: str | None = None) -> None:
    """Remember the last contact with the mailbox (or the last error, and since when it fails),
    for `mailflow status`, `mailflow check` and the stall alerts."""
    for _ in range(2):
        try:
            with sessions.begin() as session:
                previous = get_state(session, "mailbox")
                before = previous.value if previous is not None else {}
                value: dict[str, Any] = {"mode": mode, "error": error, "last_ok": before.get("last_ok")}
                if error is None:
                    value["last_ok"] = now.isoformat()
                else:
                    value["failing_since"] = before.get("failing_since") or now.isoformat()
                put_state(session, "mailbox", value, now)
            return
        except IntegrityError:
            continue


def note_leader(sessions: sessionmaker[Session], now: datetime, identity: dict[str, Any]) -> None:
    """Remember which daemon holds the mailbox and the scheduler (shown by `mailflow status`)."""
    for _ in range(2):
        try:
            with sessions.begin() as session:
                put_state(session, "leader", identity, now)
            return
        except IntegrityError:
            continue
