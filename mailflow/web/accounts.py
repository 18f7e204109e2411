"""Console accounts: local passwords hashed with Argon2, and the login throttle (slow down, then lock).

The throttle is kept in the database on the account's row, so it holds across restarts and
across two console processes. An unknown address costs the same Argon2 work as a known one,
so timing does not tell which addresses have an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.db.models import StaffUser
from mailflow.errors import MailflowError
from mailflow.settings import WebSettings
from mailflow.staff import audit

HASHER = PasswordHasher()
_DUMMY = HASHER.hash("mailflow: no such account")
MIN_PASSWORD = 12


class AccountError(MailflowError):
    """An account cannot be created as asked (bad address, short password)."""


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: the address when it succeeded, else a French reason and a delay."""

    email: str | None
    reason: str = ""
    delay: float = 0.0


def normalise(email: str) -> str:
    """The address as accounts are keyed: trimmed and lower-cased."""
    return email.strip().lower()


def add_user(session: Session, email: str, password: str, actor: str, now: datetime) -> StaffUser:
    """Create an account, or set a new password on an existing one (and unlock it)."""
    address = normalise(email)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(f"{email!r} n'est pas une adresse électronique valide ({exc})") from None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"le mot de passe doit comporter au moins {MIN_PASSWORD}\u00a0caractères")
    user = session.scalars(select(StaffUser).where(StaffUser.email == address)).first()
    action = "password" if user is not None else "user-add"
    if user is None:
        user = StaffUser(email=address, created_at=now, failed_logins=0)
        session.add(user)
    user.password_hash, user.failed_logins, user.locked_until = HASHER.hash(password), 0, None
    audit(session, actor, action, now, target=f"user:{address}")
    return user


def authenticate(session: Session, email: str, password: str, web: WebSettings, now: datetime) -> LoginResult:
    """Check a password; count failures, slow down after `slow_after`, lock after `lockout_after`."""
    address = normalise(email)
    user = session.scalars(select(StaffUser).where(StaffUser.email == address)).first()
    refused = "Adresse ou mot de passe incorrect."
    if user is None or not user.password_hash:
        _verify(_DUMMY, password)
        return LoginResult(None, refused)
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return LoginResult(None, f"Trop d'essais infructueux : ce compte est encore verrouillé pendant "
                                 f"{minutes}\u00a0min.", delay=web.failure_delay_seconds)
    if _verify(user.password_hash, password):
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        return LoginResult(user.email)
    user.failed_logins += 1
    delay = web.failure_delay_seconds * max(0, user.failed_logins - web.slow_after + 1)
    if user.failed_logins >= web.lockout_after:
        user.locked_until, user.failed_logins = now + timedelta(minutes=web.lockout_minutes), 0
        audit(session, "console", "locked", now, target=f"user:{address}",
              after=f"verrouillé {web.lockout_minutes} min")
        return LoginResult(None, f"Trop d'essais infructueux : ce compte est verrouillé pendant "
                                 f"{web.lockout_minutes}\u00a0min.", delay=delay)
    return LoginResult(None, refused, delay=delay)


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
