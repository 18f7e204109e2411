"""IMAP XOAUTH2 end to end: MSAL token from a local authority, Dovecot's oauth2 passdb, token introspection.

One private Dovecot for the module, configured with `driver = oauth2` against an introspection
endpoint that knows the tokens the local identity provider issued. The good-token test runs first:
after a failed login Dovecot slows the next one from the same address (see
../shared/notes/oauth2-in-tests.md), and the fixture turns that penalty off anyway.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailflow.errors import AuthenticationError, MailboxError
from mailflow.mail.mailbox import make_mailbox
from mailflow.mail.oauth import token_source_for
from mailflow.settings import MailboxSettings, OAuth2
from tests.fixtures import ServerUnavailable, free_port, wait_until
from tests.fixtures.dovecot import DovecotServer, start_dovecot
from tests.fixtures.oauth import (
    IdentityProvider,
    IntrospectionServer,
    TokenLedger,
    start_identity_provider,
    start_introspection,
)
from tests.fixtures.servers import unavailable

RAW = (
    b"From: drh@mairie-exemple.fr\r\nTo: stages.inet@cnfpt.fr\r\nSubject: Proposition de projet collectif\r\n"
    b"Message-ID: <oauth-test@mairie-exemple.fr>\r\n\r\nBonjour, voici notre proposition.\r\n"
)


@pytest.fixture(scope="module")
def ledger() -> TokenLedger:
    """The tokens issued by the module's identity provider, shared with the introspection endpoint."""
    return TokenLedger()


@pytest.fixture(scope="module")
def idp(ledger: TokenLedger) -> Iterator[IdentityProvider]:
    """The local HTTPS identity provider."""
    provider = start_identity_provider(ledger)
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def introspection(ledger: TokenLedger) -> Iterator[IntrospectionServer]:
    """The introspection endpoint Dovecot asks about each token; live tokens belong to user `stages`."""
    server = start_introspection(ledger, "stages")
    yield server
    server.close()


@pytest.fixture(scope="module")
def oauth_dovecot(introspection: IntrospectionServer) -> Iterator[DovecotServer]:
    """A private Dovecot that accepts only XOAUTH2/OAUTHBEARER, checked by `introspection`."""
    try:
        server = start_dovecot(auth="oauth2", oauth2_introspection_url=introspection.url)
    except ServerUnavailable as exc:
        unavailable("Dovecot", str(exc))
    yield server
    server.close()


@pytest.fixture
def settings(oauth_dovecot: DovecotServer, idp: IdentityProvider,
             monkeypatch: pytest.MonkeyPatch) -> MailboxSettings:
    """[mailbox] with auth = "oauth2" pointing at the Dovecot and the identity provider (ids in the env)."""
    monkeypatch.setenv("MAILFLOW_TENANT_ID", idp.tenant_id)
    monkeypatch.setenv("MAILFLOW_CLIENT_ID", idp.client_id)
    monkeypatch.setenv("MAILFLOW_CLIENT_SECRET", idp.client_secret)
    return MailboxSettings(
        kind="imap", host=oauth_dovecot.host, port=oauth_dovecot.port, security="none",
        username=oauth_dovecot.username, auth="oauth2", idle=False, timeout_seconds=10,
        oauth2=OAuth2(
            authority=idp.authority, ca_file=idp.ca_file, tenant_id_env="MAILFLOW_TENANT_ID",
            client_id_env="MAILFLOW_CLIENT_ID", client_secret_env="MAILFLOW_CLIENT_SECRET",
        ),
    )


def deliver(server: DovecotServer, raw: bytes) -> None:
    """Drop a mail into the user's Maildir as a delivery agent would (this Dovecot has no password login)."""
    mail = pwd.getpwnam("mail")
    for sub in ("cur", "new", "tmp"):
        (server.maildir / sub).mkdir(exist_ok=True)
        os.chown(server.maildir / sub, mail.pw_uid, mail.pw_gid)
    path = server.maildir / "new" / f"{time.time_ns()}.oauth-test.localhost"
    path.write_bytes(raw)
    os.chown(path, mail.pw_uid, mail.pw_gid)


def test_good_token_logs_in_and_is_renewed_before_expiry(
    settings: MailboxSettings, oauth_dovecot: DovecotServer, idp: IdentityProvider, ledger: TokenLedger,
    introspection: IntrospectionServer, tmp_path: Path,
) -> None:
    """ImapMailbox logs in with the token MSAL got, sees the mail, and logs in again with a renewed token.

    A 302 s lifetime puts MSAL's "5 minutes left" renewal point about 2 s after issue; the source is
    asked until it gives another token (MSAL's cache answers until then), which the next login uses.
    """
    idp.expires_in = 302
    deliver(oauth_dovecot, RAW)
    tokens = token_source_for(settings)
    mailbox = make_mailbox(settings, tmp_path, tokens)

    mailbox.connect()
    [waiting] = mailbox.waiting()
    [mail] = list(mailbox.fetch([waiting]))
    mailbox.close()
    first = ledger.issued[-1]
    wait_until(lambda: tokens() != first, 30, "the token renewed")
    mailbox.connect()
    assert len(mailbox.waiting()) == 1
    mailbox.close()

    assert b"Subject: Proposition de projet collectif" in mail.raw
    renewed = ledger.issued[-1]
    assert renewed != first
    assert introspection.seen[-2:] == [first, renewed]


def test_expired_token_gives_the_clear_error(settings: MailboxSettings, ledger: TokenLedger,
                                             tmp_path: Path) -> None:
    """A token the server no longer accepts gives one AuthenticationError naming IMAP.AccessAsApp."""
    tokens = token_source_for(settings)
    ledger.expire(tokens())
    mailbox = make_mailbox(settings, tmp_path, tokens)

    with pytest.raises(AuthenticationError) as caught:
        mailbox.connect()

    message = str(caught.value)
    assert message.startswith(f"IMAP {settings.host}:{settings.port}: login refused for stages")
    assert "AUTHENTICATIONFAILED" in message
    assert "IMAP.AccessAsApp" in message
    assert "Add-MailboxPermission" in message


def test_wrong_token_gives_the_clear_error(settings: MailboxSettings, introspection: IntrospectionServer,
                                           tmp_path: Path) -> None:
    """A token no authority issued is refused the same way, after Dovecot asked the introspection endpoint."""
    mailbox = make_mailbox(settings, tmp_path, lambda: "forged-token")

    with pytest.raises(AuthenticationError, match="IMAP.AccessAsApp"):
        mailbox.connect()

    assert introspection.seen[-1] == "forged-token"


def test_unreachable_authority_is_a_mailbox_outage(
    settings: MailboxSettings, introspection: IntrospectionServer, tmp_path: Path,
) -> None:
    """With the identity provider down, connecting raises a MailboxError: the daemon waits and retries."""
    assert settings.oauth2 is not None
    down = settings.model_copy(update={"oauth2": settings.oauth2.model_copy(
        update={"authority": f"https://127.0.0.1:{free_port()}"})})
    seen = len(introspection.seen)
    mailbox = make_mailbox(down, tmp_path, token_source_for(down))

    with pytest.raises(MailboxError, match="identity provider unreachable"):
        mailbox.connect()

    assert len(introspection.seen) == seen, "no login was attempted without a token"
