"""The database, in one place: what mailflow remembers between two mails and two restarts.

Every uniqueness the design relies on is a constraint here, so that the database and not
the code is what prevents a mail from being filed twice or a reminder from being sent twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with named constraints, so migrations are the same on every backend."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Message(Base):
    """One mail received, known by its place in the mailbox and by Message-ID plus content hash."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_messages_location"),
        UniqueConstraint("message_id", "content_hash", name="uq_messages_identity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    sender: Mapped[str] = mapped_column(String(998), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(20), default="recorded", index=True)
    verdict: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # An open item (question, reply, quarantined or put back) stays open until a person closes it.
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(320))
    put_back_at: Mapped[datetime | None]

    steps: Mapped[list[MessageStep]] = relationship(back_populates="message", order_by="MessageStep.id")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="message")


class MessageStep(Base):
    """One step of a mail's journey (recorded, classified, filed, answered, moved…), for staff and retries."""

    __tablename__ = "message_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    step: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(back_populates="steps")


class Attachment(Base):
    """An attachment kept in the archive under its content hash, never under the sender's name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))

    message: Mapped[Message] = relationship(back_populates="attachments")


class Collectivity(Base):
    """A collectivité, known by its SIRET when it gave a valid one."""

    __tablename__ = "collectivities"

    id: Mapped[int] = mapped_column(primary_key=True)
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    name: Mapped[str | None] = mapped_column(Text)


class Proposal(Base):
    """One version of a proposal as filed; a resubmission is a new row that supersedes the previous one."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("reference", "version", name="uq_proposals_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), index=True)
    form: Mapped[str] = mapped_column(String(60))
    campaign: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    late: Mapped[bool] = mapped_column(default=False)
    collectivity_pk: Mapped[int | None] = mapped_column(ForeignKey("collectivities.id"), index=True)
    siret: Mapped[str | None] = mapped_column(String(14), index=True)
    sender: Mapped[str] = mapped_column(String(998))
    received_at: Mapped[datetime]
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    source_kind: Mapped[str] = mapped_column(String(10))
    source_filename: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any]]
    missing: Mapped[list[Any]]
    problems: Mapped[list[Any]]
    flags: Mapped[list[Any]]
    note: Mapped[str | None] = mapped_column(Text)
    supersedes_pk: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    message: Mapped[Message] = relationship()
    collectivity: Mapped[Collectivity | None] = relationship()
    supersedes: Mapped[Proposal | None] = relationship(remote_side=[id])


class Counter(Base):
    """The last number given in a series of references (e.g. PC-2025)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMail(Base):
    """A mail to send, written in the same transaction as its cause; drained by the sender."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("cause", "kind", "recipient", name="uq_outbox_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cause: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    proposal_pk: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(320))

    attempts_log: Mapped[list[OutboxAttempt]] = relationship(order_by="OutboxAttempt.id")


class OutboxAttempt(Base):
    """One try at handing an outbox mail to the transport, and its error if it failed."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_pk: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(Text)


class QuarantineEntry(Base):
    """A mail set aside for a human, with the reason in French; released by staff."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None]

    message: Mapped[Message] = relationship()


class Reminder(Base):
    """A reminder queued for one recipient: at most one per (campaign, reminder, recipient)."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("campaign", "reminder", "recipient", name="uq_reminders_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(100))
    reminder: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320))
    proposal_pk: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))
    outbox_pk: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime]


class Slot(Base):
    """A meeting slot (Teams meeting, tutor call) given to one proposal; never two in one slot."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("campaign", "kind", "starts_at", name="uq_slots_time"),
        UniqueConstraint("campaign", "kind", "proposal_pk", name="uq_slots_proposal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    proposal_pk: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    meeting_url: Mapped[str | None] = mapped_column(Text)


class ServiceState(Base):
    """Small facts about the running service (last mailbox contact, last digest, leader…)."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class StaffUser(Base):
    """A member of staff who may sign in to the console with a local password (Argon2 hash)."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """One staff action: who, when, what, on which proposal or mail, the value before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    reference: Mapped[str | None] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
