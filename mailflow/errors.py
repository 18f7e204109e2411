"""One hierarchy of errors, each with a message a person can act on.

Stages raise these; the pipeline turns `Quarantine` into a quarantined mail and
`Discard` into an ignored one, and the CLI turns `SettingsError` into exit status 2.
"""


class MailflowError(Exception):
    """Base of every error mailflow raises on purpose."""


class SettingsError(MailflowError):
    """The settings file is missing, malformed or holds a wrong value (one line, names the key)."""


class CalendarError(MailflowError):
    """A campaign calendar is invalid: the message names the file, the line and the reason."""


class TemplateError(MailflowError):
    """A mail template is missing or fails to render."""


class MailboxError(MailflowError):
    """The mailbox cannot be reached or refused an operation."""


class TransportError(MailflowError):
    """An outgoing mail could not be handed to the SMTP server or written to the outbox directory."""


class AuthenticationError(MailflowError):
    """A server or an identity provider refused our credentials; the message names the likely cause."""


class ServerUnreachable(TransportError):
    """The SMTP server cannot be reached at all (down, refused, TLS failure): retry later, all mails wait."""


class RecipientRefused(TransportError):
    """The server refused this mail for good (5xx for its recipients or content): retrying will not help."""


class SmtpAuthenticationError(TransportError, AuthenticationError):
    """The SMTP server refused our credentials (wrong password, expired token, SMTP AUTH disabled)."""


class IdentityProviderUnreachable(MailboxError, ServerUnreachable):
    """The identity provider could not be reached or failed (network, TLS, HTTP 5xx): retry later.

    It is both a `MailboxError` and a `ServerUnreachable`, so the daemon treats it as a mailbox
    outage and the outbox as an SMTP outage: both wait and retry, nothing is lost.
    """


class AlreadyFiled(MailflowError):
    """A mail staff asked to read again already gave a proposal: reading it again would file it twice."""


class ProcessStopped(MailflowError):
    """A short-lived process started for rare work (a migration, a spreadsheet) stopped before it gave its
    result: killed, out of memory, or unable to start."""


class ExtractionError(MailflowError):
    """A document could not be read as a form. `reason` is in French, for staff and for the sender."""

    def __init__(self, reason: str, *, filename: str | None = None, source_kind: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.filename = filename
        self.source_kind = source_kind


class Quarantine(MailflowError):
    """Stops the pipeline: the mail is set aside for a human, with `reason` in French."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Discard(MailflowError):
    """Stops the pipeline: the mail is recorded as ignored and never answered (`reason` in French)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
