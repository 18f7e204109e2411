"""Failures that explain themselves: a login refused, an expired OAuth2 grant, a password variable not set.

These are expected conditions, not bugs: each gives one log line with its cause and what to do,
never a traceback, and the cause is recorded (`mailflow status`, `mailflow check`, the stall alert
to staff). A setting that cannot work at all (the password variable is not set) stops
`mailflow run` at start with exit status 2.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mailflow.db.state import note_mailbox
from mailflow.errors import AuthenticationError, SettingsError

if TYPE_CHECKING:
    from mailflow.context import App

log = logging.getLogger("mailflow.service.failures")

LOGIN_REMEDY = ("what to do: check [mailbox] username and the password its password_env or password_file gives "
                "(or the OAuth2 application's grant), then run `mailflow check`; mailflow retries meanwhile")
SETTING_REMEDY = "what to do: set it (systemd: Environment= or LoadCredential=) and restart mailflow"

LoginProblem = (AuthenticationError, SettingsError)
LOGIN_PROBLEM_PREFIXES = ("cannot log in to the mailbox:", "mailbox settings:", "[mailbox] ")


def explain(exc: BaseException) -> str:
    """The one line that says what went wrong and what to do about it (starts with a LOGIN_PROBLEM_PREFIXES)."""
    if isinstance(exc, SettingsError):
        return f"mailbox settings: {exc}; {SETTING_REMEDY}"
    return f"cannot log in to the mailbox: {exc}; {LOGIN_REMEDY}"


def record_cause(app: App, text: str) -> None:
    """Keep the cause for `mailflow status`, `mailflow check` and the stall alert (best effort)."""
    try:
        note_mailbox(app.sessions, app.clock.now(), mode="error", error=text)
    except Exception:  # noqa: BLE001 - the database may be down too; the log line says it all
        log.warning("could not record the cause in the database: %s", text)


def require_secrets(app: App) -> None:
    """Stop at start when a password the settings name cannot be read (variable unset, file missing).

    Raises `SettingsError` (exit status 2) after recording the cause.
    """
    sections = []
    if app.settings.mailbox.kind == "imap" and app.settings.mailbox.auth == "password":
        sections.append(("mailbox", app.settings.mailbox))
    if app.settings.smtp.kind == "smtp" and app.settings.smtp.auth == "password" and app.settings.smtp.username:
        sections.append(("smtp", app.settings.smtp))
    for name, section in sections:
        try:
            if section.password() is None and name == "mailbox":
                raise SettingsError("no password configured (password_env or password_file)")
        except SettingsError as exc:
            text = f"[{name}] {exc}; {SETTING_REMEDY}"
            record_cause(app, text)
            raise SettingsError(text) from None
