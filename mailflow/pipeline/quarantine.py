"""`mailflow quarantine release ID` (and the console's button): a mail set aside goes through the pipeline again."""

from __future__ import annotations

from mailflow.context import App
from mailflow.db.models import Message, QuarantineEntry
from mailflow.pipeline.recording import step
from mailflow.pipeline.run import process


def quarantine_release(app: App, entry_id: int) -> Message:
    """`mailflow quarantine release ID`: run the mail through the pipeline again, as new."""
    with app.sessions.begin() as session:
        entry = session.get_one(QuarantineEntry, entry_id)
        if entry.released_at is not None:
            return entry.message
        entry.released_at = app.clock.now()
        message = entry.message
        message.state = "recorded"
        step(session, message, "released", app.clock.now(), f"sortie de quarantaine #{entry_id}")
        pk = message.id
    process(app, pk)
    with app.sessions() as session:
        return session.get_one(Message, pk)
