"""OAuth2 access tokens for Exchange Online (SASL XOAUTH2 over IMAP and SMTP), from Microsoft Entra ID.

Exchange Online refuses passwords for IMAP and is retiring them for SMTP AUTH, so mailflow logs
in as an Entra ID application: MSAL's client-credentials flow with a client secret or a
certificate, for the scope Exchange Online expects for both protocols. A `TokenSource` is a
callable returning an access token; MSAL keeps it in memory and fetches a new one once 5 minutes
or less remain, so every login gets a token that is still valid. Administrator steps:
docs/microsoft365.md.
"""

from __future__ import annotations

from typing import Protocol

from mailflow.errors import SettingsError
from mailflow.settings import MailboxSettings, SmtpSettings

IMAP_REFUSED_HINT = (
    "the identity provider issued a token but the IMAP server refused it; likely causes: the application "
    "lacks the Office 365 Exchange Online permission IMAP.AccessAsApp with admin consent, or its service "
    "principal is not registered in Exchange Online (New-ServicePrincipal) or has no access to this "
    "mailbox (Add-MailboxPermission -AccessRights FullAccess); see docs/microsoft365.md"
)
SMTP_REFUSED_HINT = (
    "the identity provider issued a token but the SMTP server refused it; likely causes: the application "
    "lacks the Office 365 Exchange Online permission SMTP.SendAsApp with admin consent, its service "
    "principal has no access to this mailbox, or SMTP AUTH is disabled for the mailbox "
    "(Set-CASMailbox -SmtpClientAuthenticationDisabled $false); see docs/microsoft365.md"
)


class TokenSource(Protocol):
    """Gives a valid access token each time it is called, renewed before it expires."""

    def __call__(self) -> str: ...


def token_source_for(section: MailboxSettings | SmtpSettings) -> TokenSource:
    """The token source of `[mailbox]` or `[smtp]` with auth = "oauth2" (credentials read now)."""
    table = "mailbox.oauth2" if isinstance(section, MailboxSettings) else "smtp.oauth2"
    if section.oauth2 is None:
        raise SettingsError(f'[{table.split(".")[0]}] auth = "oauth2" needs a [{table}] table')
    from mailflow.mail.entra import token_source  # noqa: PLC0415 - MSAL, requests and cryptography load only where OAuth2 is used

    return token_source(section.oauth2, table, section.timeout_seconds)
