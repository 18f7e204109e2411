"""OAuth2 for Microsoft 365: MSAL against a local HTTPS authority, and SMTP XOAUTH2 against aiosmtpd.

No mocks: MSAL's real code path talks HTTPS to tests/fixtures/oauth.py's identity provider, and
mailflow's SmtpTransport talks SMTP to a real aiosmtpd that only accepts XOAUTH2.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailflow.cli import cli
from mailflow.errors import (
    AuthenticationError,
    IdentityProviderUnreachable,
    MailboxError,
    ServerUnreachable,
    SettingsError,
    SmtpAuthenticationError,
)
from mailflow.mail.entra import MsalTokenSource
from mailflow.mail.oauth import token_source_for
from mailflow.mail.oauth_credentials import EXCHANGE_SCOPE, read_credentials
from mailflow.mail.transport import make_transport
from mailflow.settings import MailboxSettings, OAuth2, SmtpSettings
from tests.fixtures import Certificate, free_port, make_self_signed_cert, wait_until
from tests.fixtures.oauth import (
    IdentityProvider,
    TokenLedger,
    XOAuth2SmtpServer,
    start_identity_provider,
    start_xoauth2_smtp,
)

MAILBOX = "stages.inet@cnfpt.fr"


@pytest.fixture(scope="module")
def ledger() -> TokenLedger:
    """The tokens issued by this module's identity provider."""
    return TokenLedger()


@pytest.fixture(scope="module")
def idp_server(ledger: TokenLedger) -> Iterator[IdentityProvider]:
    """A local HTTPS Entra-ID-like authority (one tenant, one application with a client secret)."""
    provider = start_identity_provider(ledger)
    yield provider
    provider.close()


@pytest.fixture
def idp(idp_server: IdentityProvider, ledger: TokenLedger) -> IdentityProvider:
    """The authority in its starting state, with no token issued yet."""
    idp_server.reset()
    ledger.clear()
    return idp_server


@pytest.fixture(scope="module")
def xoauth2_server(ledger: TokenLedger) -> Iterator[XOAuth2SmtpServer]:
    """An aiosmtpd server accepting only AUTH XOAUTH2 with a token the identity provider issued."""
    server = start_xoauth2_smtp(ledger, MAILBOX)
    yield server
    server.close()


@pytest.fixture
def xoauth2_smtp(xoauth2_server: XOAuth2SmtpServer, idp: IdentityProvider) -> XOAuth2SmtpServer:
    """The XOAUTH2 SMTP server with no attempt or message seen yet."""
    xoauth2_server.reset()
    return xoauth2_server


@pytest.fixture(scope="module")
def app_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A key and self-signed certificate for the Entra application (certificate credential)."""
    return make_self_signed_cert(tmp_path_factory.mktemp("app-cert"), "app")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, idp: IdentityProvider, tmp_path: Path) -> None:
    """The application's ids and secret in the environment, and a CA bundle variable that would break TLS."""
    monkeypatch.setenv("MAILFLOW_TENANT_ID", idp.tenant_id)
    monkeypatch.setenv("MAILFLOW_CLIENT_ID", idp.client_id)
    monkeypatch.setenv("MAILFLOW_CLIENT_SECRET", idp.client_secret)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))


def oauth2_table(idp: IdentityProvider, **changes: object) -> OAuth2:
    """The [*.oauth2] table pointing at the local authority, with secrets from the environment."""
    values: dict[str, object] = {
        "authority": idp.authority, "ca_file": idp.ca_file, "tenant_id_env": "MAILFLOW_TENANT_ID",
        "client_id_env": "MAILFLOW_CLIENT_ID", "client_secret_env": "MAILFLOW_CLIENT_SECRET",
    }
    values.update(changes)
    return OAuth2.model_validate(values)


def smtp_settings(idp: IdentityProvider, server: XOAuth2SmtpServer | None = None,
                  **changes: object) -> SmtpSettings:
    """[smtp] with auth = "oauth2" towards the XOAUTH2 test server (plain SMTP: loopback)."""
    return SmtpSettings(
        kind="smtp", host=server.host if server else "127.0.0.1", port=server.port if server else 25,
        security="none", username=MAILBOX, auth="oauth2", oauth2=oauth2_table(idp, **changes),
        timeout_seconds=10,
    )


def a_mail() -> bytes:
    """A small outgoing acknowledgement."""
    message = EmailMessage()
    message["From"] = f"INET - Stages <{MAILBOX}>"
    message["To"] = "drh@mairie-exemple.fr"
    message["Subject"] = "Accusé de réception"
    message.set_content("Bonjour,\nNous avons bien reçu votre proposition.\n")
    return message.as_bytes()


@pytest.mark.usefixtures("app_env")
def test_token_comes_from_the_local_authority_and_then_from_the_cache(idp: IdentityProvider,
                                                                       ledger: TokenLedger) -> None:
    """MSAL discovers the tenant, asks a client-credentials token for Exchange's scope, then reuses it."""
    tokens = token_source_for(smtp_settings(idp))

    first, second = tokens(), tokens()

    assert first == second == ledger.issued[0]
    assert [r.path for r in idp.requests] == [
        f"/{idp.tenant_id}/v2.0/.well-known/openid-configuration",
        f"/{idp.tenant_id}/oauth2/v2.0/token",
    ]
    form = idp.token_requests[0].form
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == EXCHANGE_SCOPE
    assert form["client_id"] == idp.client_id
    assert form["client_secret"] == idp.client_secret


def test_credentials_read_from_files(idp: IdentityProvider, ledger: TokenLedger, tmp_path: Path) -> None:
    """*_file settings work like systemd credentials (a trailing newline is ignored)."""
    for name, value in (("tenant", idp.tenant_id), ("client", idp.client_id), ("secret", idp.client_secret)):
        (tmp_path / name).write_text(value + "\n")
    box = MailboxSettings(kind="imap", username=MAILBOX, auth="oauth2", oauth2=OAuth2(
        authority=idp.authority, tenant_id_file=tmp_path / "tenant", client_id_file=tmp_path / "client",
        client_secret_file=tmp_path / "secret", ca_file=idp.ca_file,
    ))

    assert token_source_for(box)() == ledger.issued[0]


@pytest.mark.parametrize("with_thumbprint", [False, True], ids=["thumbprint-computed", "thumbprint-given"])
def test_certificate_credential_signs_a_client_assertion(
    idp: IdentityProvider, ledger: TokenLedger, app_certificate: Certificate, with_thumbprint: bool,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """With certificate_file (key + certificate), MSAL sends a signed assertion the authority accepts.

    The thumbprint is computed from the certificate, or taken from certificate_thumbprint (the
    SHA-1 the Entra portal shows, colons allowed).
    """
    idp.client_certificate = app_certificate.cert
    combined = tmp_path / "mailflow-app.pem"
    combined.write_text(app_certificate.key.read_text() + app_certificate.cert.read_text())
    monkeypatch.setenv("MAILFLOW_TENANT_ID", idp.tenant_id)
    monkeypatch.setenv("MAILFLOW_CLIENT_ID", idp.client_id)
    thumbprint = sha1_thumbprint(app_certificate) if with_thumbprint else None

    tokens = token_source_for(smtp_settings(idp, client_secret_env=None, certificate_file=combined,
                                            certificate_thumbprint=thumbprint))

    assert tokens() == ledger.issued[0]
    form = idp.token_requests[0].form
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_unregistered_certificate_is_named(idp: IdentityProvider, app_certificate: Certificate,
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A thumbprint that is not the registered certificate's gives the certificate cause, not a traceback."""
    idp.client_certificate = app_certificate.cert
    combined = tmp_path / "mailflow-app.pem"
    combined.write_text(app_certificate.key.read_text() + app_certificate.cert.read_text())
    monkeypatch.setenv("MAILFLOW_TENANT_ID", idp.tenant_id)
    monkeypatch.setenv("MAILFLOW_CLIENT_ID", idp.client_id)

    tokens = token_source_for(smtp_settings(idp, client_secret_env=None, certificate_file=combined,
                                            certificate_thumbprint="00" * 20))

    with pytest.raises(AuthenticationError, match="certificate is not registered on the application"):
        tokens()


def sha1_thumbprint(certificate: Certificate) -> str:
    """The certificate's SHA-1 thumbprint written as the Entra portal shows it, here with colons."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(certificate.cert.read_bytes()).fingerprint(hashes.SHA1())
    return ":".join(f"{byte:02X}" for byte in digest)


@pytest.mark.usefixtures("app_env")
def test_wrong_secret_is_named(idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong client secret gives one AuthenticationError saying the secret is wrong, not a traceback."""
    monkeypatch.setenv("MAILFLOW_CLIENT_SECRET", "not-the-secret")

    with pytest.raises(AuthenticationError, match="client secret is wrong") as caught:
        token_source_for(smtp_settings(idp))()

    assert "AADSTS7000215" in str(caught.value)
    assert not isinstance(caught.value, MailboxError)


@pytest.mark.usefixtures("app_env")
def test_unknown_client_id_is_named(idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client id the tenant does not know is named together with the tenant."""
    monkeypatch.setenv("MAILFLOW_CLIENT_ID", "00000000-0000-0000-0000-00000000dead")

    with pytest.raises(AuthenticationError, match="client id 00000000-0000-0000-0000-00000000dead is not an "
                                                  "application of tenant"):
        token_source_for(smtp_settings(idp))()


@pytest.mark.usefixtures("app_env")
def test_unknown_tenant_is_named(idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant the authority does not know is named as such."""
    monkeypatch.setenv("MAILFLOW_TENANT_ID", "not-our-tenant")

    with pytest.raises(AuthenticationError, match="tenant not-our-tenant does not exist"):
        token_source_for(smtp_settings(idp))()


@pytest.mark.usefixtures("app_env")
def test_unreachable_authority_is_an_outage_to_retry(idp: IdentityProvider) -> None:
    """Nothing listening at the authority: an outage the daemon and the outbox retry, not a refusal."""
    settings = smtp_settings(idp, authority=f"https://127.0.0.1:{free_port()}")

    with pytest.raises(IdentityProviderUnreachable, match="identity provider unreachable") as caught:
        token_source_for(settings)()

    assert isinstance(caught.value, MailboxError)
    assert isinstance(caught.value, ServerUnreachable)
    assert "Connection refused" in str(caught.value)


@pytest.mark.usefixtures("app_env")
def test_untrusted_authority_certificate_suggests_ca_file(idp: IdentityProvider,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ca_file the self-signed authority fails TLS, and the message says which setting helps."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE")

    with pytest.raises(IdentityProviderUnreachable, match="TLS failed .*set ca_file"):
        token_source_for(smtp_settings(idp, ca_file=None))()


@pytest.mark.usefixtures("app_env")
@pytest.mark.parametrize(("changes", "unset", "expected"), [
    ({}, "MAILFLOW_CLIENT_SECRET", r"\[smtp.oauth2\] client_secret_env: environment variable "
                                   "MAILFLOW_CLIENT_SECRET is not set"),
    ({"client_secret_env": None}, None, r"\[smtp.oauth2\] needs client_secret_env, client_secret_file "
                                        "or certificate_file"),
    ({"tenant_id_env": None}, None, r"\[smtp.oauth2\] needs tenant_id_env"),
    ({"certificate_file": Path("/nonexistent/app.pem")}, None, r"certificate_file /nonexistent/app.pem: "
                                                               "cannot be read"),
    ({"authority": "http://login.example"}, None, r'expected an "https://" URL'),
])
def test_incomplete_settings_name_the_key(
    idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch, changes: dict[str, object], unset: str | None,
    expected: str,
) -> None:
    """A missing or unreadable credential stops at start with a SettingsError naming the table and key."""
    if unset:
        monkeypatch.delenv(unset)

    with pytest.raises(SettingsError, match=expected):
        token_source_for(smtp_settings(idp, **changes))


@pytest.mark.parametrize(("content", "expected"), [
    ("certificate only", "expected an unencrypted PEM private key"),
    ("damaged key", "the private key cannot be read"),
])
def test_unusable_certificate_file_is_refused(app_certificate: Certificate, tmp_path: Path,
                                              content: str, expected: str) -> None:
    """A certificate_file without a usable private key is refused at start, saying what is wrong."""
    damaged = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    pem = tmp_path / "app.pem"
    pem.write_text((damaged if content == "damaged key" else "") + app_certificate.cert.read_text())
    table = OAuth2(tenant_id_file=pem, client_id_file=pem, certificate_file=pem)

    with pytest.raises(SettingsError, match=expected):
        read_credentials(table, "mailbox.oauth2")


@pytest.mark.usefixtures("app_env")
def test_smtp_sends_with_xoauth2(idp: IdentityProvider, ledger: TokenLedger,
                                 xoauth2_smtp: XOAuth2SmtpServer, tmp_path: Path) -> None:
    """SmtpTransport authenticates with AUTH XOAUTH2 and the token from MSAL; the mail is accepted."""
    settings = smtp_settings(idp, xoauth2_smtp)
    transport = make_transport(settings, tmp_path, token_source_for(settings))

    transport.send(a_mail(), MAILBOX, ["drh@mairie-exemple.fr"])
    transport.close()

    [delivered] = xoauth2_smtp.delivered
    assert delivered.auth_user == MAILBOX
    assert delivered.rcpt_tos == ("drh@mairie-exemple.fr",)
    assert delivered.message["Subject"] == "Accusé de réception"
    assert xoauth2_smtp.attempts == [(MAILBOX, ledger.issued[0])]


@pytest.mark.usefixtures("app_env")
def test_smtp_expired_token_names_the_likely_causes(idp: IdentityProvider, ledger: TokenLedger,
                                                    xoauth2_smtp: XOAuth2SmtpServer, tmp_path: Path) -> None:
    """A token the server refuses gives one error naming SMTP.SendAsApp and SMTP AUTH, and nothing is sent."""
    settings = smtp_settings(idp, xoauth2_smtp)
    tokens = token_source_for(settings)
    ledger.expire(tokens())
    transport = make_transport(settings, tmp_path, tokens)

    with pytest.raises(SmtpAuthenticationError) as caught:
        transport.send(a_mail(), MAILBOX, ["drh@mairie-exemple.fr"])

    message = str(caught.value)
    assert "535 5.7.3" in message
    assert "SMTP.SendAsApp" in message
    assert "SmtpClientAuthenticationDisabled" in message
    assert xoauth2_smtp.delivered == []


def test_smtp_wrong_token_is_refused(xoauth2_smtp: XOAuth2SmtpServer, tmp_path: Path,
                                     idp: IdentityProvider) -> None:
    """A token no authority issued is refused the same way (the transport's `check` meets it too)."""
    settings = smtp_settings(idp, xoauth2_smtp)
    transport = make_transport(settings, tmp_path, lambda: "forged-token")

    with pytest.raises(AuthenticationError, match="SMTP.SendAsApp"):
        transport.check()  # type: ignore[attr-defined]

    assert xoauth2_smtp.attempts == [(MAILBOX, "forged-token")]


@pytest.mark.usefixtures("app_env")
def test_token_renewed_before_expiry(idp: IdentityProvider, ledger: TokenLedger,
                                     xoauth2_smtp: XOAuth2SmtpServer, tmp_path: Path) -> None:
    """A token is reused while more than 5 minutes remain, and replaced before it expires.

    MSAL treats a token with 300 s or less left as expired: a lifetime of 302 s makes that
    moment come about 2 s after issue, so the renewal is observed without touching any clock
    (the source is asked until it gives another token: MSAL's cache answers until then).
    """
    idp.expires_in = 302
    settings = smtp_settings(idp, xoauth2_smtp)
    tokens = token_source_for(settings)
    first = tokens()
    transport = make_transport(settings, tmp_path, tokens)
    transport.check()  # type: ignore[attr-defined]
    assert tokens() == first

    wait_until(lambda: tokens() != first, 30, "the token renewed")
    renewed = tokens()
    transport.check()  # type: ignore[attr-defined]

    assert renewed != first
    assert ledger.active(first), "the old token was replaced while still valid"
    assert len(idp.token_requests) == 2
    assert [token for _user, token in xoauth2_smtp.attempts] == [first, renewed]


def test_token_source_interface_is_a_plain_callable(idp: IdentityProvider, ledger: TokenLedger) -> None:
    """MsalTokenSource can be built directly from credentials, e.g. to point it at another authority."""
    from mailflow.mail.oauth_credentials import ClientCredentials

    source = MsalTokenSource(
        ClientCredentials(tenant_id=idp.tenant_id, client_id=idp.client_id, secret=idp.client_secret),
        authority=idp.authority, ca_file=idp.ca_file,
    )

    assert source() == ledger.issued[0]


def write_settings(path: Path, idp: IdentityProvider, server: XOAuth2SmtpServer) -> Path:
    """A settings file: local Maildir and SQLite, SMTP with auth = "oauth2" through the local authority."""
    repo = Path(__file__).resolve().parents[1]
    path.write_text(f"""
[mailbox]
kind = "maildir"
path = "inbox"

[smtp]
kind = "smtp"
host = "{server.host}"
port = {server.port}
security = "none"
username = "{MAILBOX}"
auth = "oauth2"

[smtp.oauth2]
authority = "{idp.authority}"
ca_file = "{idp.ca_file}"
tenant_id_env = "MAILFLOW_TENANT_ID"
client_id_env = "MAILFLOW_CLIENT_ID"
client_secret_env = "MAILFLOW_CLIENT_SECRET"

[database]
url = "sqlite:///{path.parent / 'mailflow.sqlite3'}"

[campaigns]
schedules = "{repo / 'schedules'}"
templates = "{repo / 'templates'}"
""")
    return path


@pytest.mark.usefixtures("app_env")
def test_mailflow_check_reports_the_token_on_its_own_line(
    idp: IdentityProvider, ledger: TokenLedger, xoauth2_smtp: XOAuth2SmtpServer, tmp_path: Path,
) -> None:
    """`mailflow check` shows the OAuth2 token acquisition as its own line, then the SMTP login with it."""
    config = write_settings(tmp_path / "settings.toml", idp, xoauth2_smtp)

    result = CliRunner().invoke(cli, ["--config", str(config), "check"])

    lines = result.output.splitlines()
    assert "OK   smtp oauth2 token: token acquired" in lines
    assert any(line.startswith("OK   smtp: smtp 127.0.0.1") for line in lines)
    assert xoauth2_smtp.attempts == [(MAILBOX, ledger.issued[0])]


@pytest.mark.usefixtures("app_env")
def test_mailflow_check_fails_on_the_token_line(idp: IdentityProvider, xoauth2_smtp: XOAuth2SmtpServer,
                                                monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A refused token request fails the token line with its cause, exit status 1, and no SMTP attempt."""
    monkeypatch.setenv("MAILFLOW_CLIENT_SECRET", "not-the-secret")
    config = write_settings(tmp_path / "settings.toml", idp, xoauth2_smtp)

    result = CliRunner().invoke(cli, ["--config", str(config), "check"])

    [line] = [line for line in result.output.splitlines() if "oauth2 token" in line]
    assert line.startswith("FAIL smtp oauth2 token: OAuth2 token from ")
    assert "the client secret is wrong" in line
    assert result.exit_code == 1
    assert xoauth2_smtp.attempts == []
