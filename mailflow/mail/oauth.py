"""OAuth2 access tokens for Exchange Online (SASL XOAUTH2 over IMAP and SMTP), from Microsoft Entra ID.

Exchange Online refuses passwords for IMAP and is retiring them for SMTP AUTH, so mailflow logs
in as an Entra ID application: MSAL's client-credentials flow with a client secret or a
certificate, for the scope Exchange Online expects for both protocols. A `TokenSource` is a
callable returning an access token; MSAL keeps it in memory and fetches a new one once 5 minutes
or less remain, so every login gets a token that is still valid. Administrator steps:
docs/microsoft365.md.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailflow.errors import AuthenticationError, IdentityProviderUnreachable, SettingsError
from mailflow.settings import MailboxSettings, OAuth2, SmtpSettings

EXCHANGE_SCOPE = "https://outlook.office365.com/.default"

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

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)

# Entra ID error codes (AADSTSnnnn) an administrator can fix, and what to tell them.
_CAUSES = {
    7000215: "the client secret is wrong (give the secret's Value, not its Secret ID)",
    7000222: "the client secret has expired; create a new one in Entra ID and update the secret",
    700016: "client id {client_id} is not an application of tenant {tenant_id}; check both ids",
    90002: "tenant {tenant_id} does not exist; check the tenant id",
    900023: "tenant id {tenant_id} is not a valid tenant identifier",
    700027: "the certificate is not registered on the application, or the thumbprint is wrong",
    700023: "the certificate is not registered on the application, or the thumbprint is wrong",
    1002012: "the scope {scope} is not valid for this application",
    70011: "the scope {scope} is not valid for this application",
    7000112: "the application is disabled in Entra ID",
}


class TokenSource(Protocol):
    """Gives a valid access token each time it is called, renewed before it expires."""

    def __call__(self) -> str: ...




@dataclass(frozen=True)
class ClientCredentials:
    """Who the application is: tenant, client id, and a client secret or a certificate."""

    tenant_id: str
    client_id: str
    secret: str | None = None
    private_key: str | None = None
    certificate: str | None = None
    thumbprint: str | None = None

    def for_msal(self) -> str | dict[str, str]:
        """The `client_credential` argument of `msal.ConfidentialClientApplication`."""
        if self.secret is not None:
            return self.secret
        credential = {"private_key": self.private_key or ""}
        if self.thumbprint:
            credential["thumbprint"] = self.thumbprint
        else:
            credential["public_certificate"] = self.certificate or ""
        return credential


def read_credentials(oauth2: OAuth2, table: str) -> ClientCredentials:
    """Read the tenant id, client id and secret (or certificate) from their `*_env` / `*_file` sources.

    `table` names the settings table (`mailbox.oauth2`) in the `SettingsError` raised when
    something is missing or unreadable.
    """
    tenant_id = _read(table, "tenant_id", oauth2.tenant_id_env, oauth2.tenant_id_file)
    client_id = _read(table, "client_id", oauth2.client_id_env, oauth2.client_id_file)
    if oauth2.certificate_file is not None:
        return _certificate_credentials(table, oauth2, tenant_id, client_id)
    if oauth2.client_secret_env is None and oauth2.client_secret_file is None:
        raise SettingsError(
            f"[{table}] needs client_secret_env, client_secret_file or certificate_file"
        )
    secret = _read(table, "client_secret", oauth2.client_secret_env, oauth2.client_secret_file)
    return ClientCredentials(tenant_id=tenant_id, client_id=client_id, secret=secret)


class MsalTokenSource:
    """Access tokens from Entra ID by MSAL's client-credentials flow, cached in memory and renewed.

    The MSAL application is built on the first call (building it asks the identity provider for
    its configuration), so a source can be created while the network is down. Calls are
    serialised: the mailbox and the sender may ask at the same time. `ca_file` pins the CA that
    signs the identity provider's certificate (tests, a TLS-inspecting proxy); it wins over
    REQUESTS_CA_BUNDLE, while proxies from the environment still apply.
    """

    def __init__(
        self,
        credentials: ClientCredentials,
        *,
        authority: str = "https://login.microsoftonline.com",
        scopes: Sequence[str] = (EXCHANGE_SCOPE,),
        ca_file: Path | None = None,
        timeout: float = 30,
    ):
        if not authority.startswith("https://"):
            raise SettingsError(f'oauth2 authority: expected an "https://" URL, got "{authority}"')
        self.credentials = credentials
        self.authority_url = f"{authority.rstrip('/')}/{credentials.tenant_id}"
        self.scopes = list(scopes)
        self.ca_file = ca_file
        self.timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        """A valid access token: from the cache, or freshly issued when 5 minutes or less remain."""
        with self._lock:
            app = self._app or self._build()
            self._app = app
            try:
                result = app.acquire_token_for_client(scopes=self.scopes)
            except (OSError, msal.exceptions.MsalServiceError, json.JSONDecodeError) as exc:
                raise self._unreachable(exc) from exc
            except ValueError as exc:
                raise AuthenticationError(f"{self._where()}: cannot build the token request ({exc})") from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        raise self._refused(result if isinstance(result, dict) else {})

    def _build(self) -> msal.ConfidentialClientApplication:
        try:
            return msal.ConfidentialClientApplication(
                self.credentials.client_id,
                client_credential=self.credentials.for_msal(),
                authority=self.authority_url,
                instance_discovery=False,
                http_client=_session(self.ca_file),
                timeout=self.timeout,
            )
        except (OSError, msal.exceptions.MsalServiceError, json.JSONDecodeError) as exc:
            raise self._unreachable(exc) from exc
        except ValueError as exc:
            raise self._construction_error(exc) from exc

    def _where(self) -> str:
        return f"OAuth2 token from {self.authority_url} for client {self.credentials.client_id}"

    def _unreachable(self, exc: Exception) -> IdentityProviderUnreachable:
        if isinstance(exc, requests.exceptions.SSLError):
            return IdentityProviderUnreachable(
                f"{self._where()}: TLS failed ({_reason(exc)}); set ca_file in the oauth2 table "
                "if the identity provider's certificate is signed by a private authority"
            )
        return IdentityProviderUnreachable(
            f"{self._where()}: identity provider unreachable ({type(exc).__name__}: {_reason(exc)}); "
            "will retry"
        )

    def _construction_error(self, exc: ValueError) -> AuthenticationError:
        text = " ".join(str(error) for error in _chain(exc))
        codes = [int(code) for code in re.findall(r"AADSTS(\d+)", text)]
        if "authority configuration" in text or "Discovery failed" in text or codes:
            cause = _cause(codes, self._facts()) or (
                f"tenant {self.credentials.tenant_id} is unknown to this authority; "
                "check the tenant id and the authority"
            )
            return AuthenticationError(f"{self._where()}: {cause}")
        return AuthenticationError(f"{self._where()}: cannot use these credentials ({_first_line(exc)})")

    def _refused(self, result: dict[str, Any]) -> AuthenticationError:
        codes = [int(code) for code in result.get("error_codes") or [] if str(code).isdigit()]
        description = _first_line(result.get("error_description") or "no description")
        error = result.get("error") or "no access_token in the reply"
        cause = _cause(codes, self._facts()) or (
            "check the tenant id, the client id and the client secret or certificate"
        )
        return AuthenticationError(f"{self._where()}: refused: {cause} ({error}: {description})")

    def _facts(self) -> dict[str, str]:
        return {
            "tenant_id": self.credentials.tenant_id,
            "client_id": self.credentials.client_id,
            "scope": " ".join(self.scopes),
        }


def token_source_for(section: MailboxSettings | SmtpSettings) -> TokenSource:
    """The token source of `[mailbox]` or `[smtp]` with auth = "oauth2" (credentials read now)."""
    table = "mailbox.oauth2" if isinstance(section, MailboxSettings) else "smtp.oauth2"
    if section.oauth2 is None:
        raise SettingsError(f'[{table.split(".")[0]}] auth = "oauth2" needs a [{table}] table')
    oauth2 = section.oauth2
    return MsalTokenSource(
        read_credentials(oauth2, table),
        authority=oauth2.authority,
        ca_file=oauth2.ca_file,
        timeout=section.timeout_seconds,
    )


class _PinnedCaSession(requests.Session):
    """A requests session whose CA bundle is not overridden by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE."""

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any,
    ) -> dict[str, Any]:
        """requests' merge of per-request and environment settings, with `self.verify` always kept."""
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged["verify"] = self.verify
        return merged


def _session(ca_file: Path | None) -> requests.Session:
    if ca_file is None:
        return requests.Session()
    session = _PinnedCaSession()
    session.verify = str(ca_file)
    return session


def _read(table: str, name: str, env: str | None, file: Path | None) -> str:
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"[{table}] {name}_file {file}: cannot be read ({exc.strerror})") from exc
        if not value:
            raise SettingsError(f"[{table}] {name}_file {file}: the file is empty")
        return value
    if env is None:
        raise SettingsError(f"[{table}] needs {name}_env (an environment variable) or {name}_file (a file)")
    value = os.environ.get(env, "").strip()
    if not value:
        raise SettingsError(f"[{table}] {name}_env: environment variable {env} is not set or empty")
    return value


def _certificate_credentials(table: str, oauth2: OAuth2, tenant_id: str, client_id: str) -> ClientCredentials:
    path = oauth2.certificate_file
    assert path is not None
    where = f"[{table}] certificate_file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror})") from exc
    blocks = {match.group(1): match.group(0) for match in _PEM_BLOCK.finditer(text)}
    key = next((block for kind, block in blocks.items() if kind.endswith("PRIVATE KEY")), None)
    if key is None or "ENCRYPTED" in key.split("\n", 1)[0]:
        raise SettingsError(f"{where}: expected an unencrypted PEM private key followed by its certificate")
    try:
        serialization.load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{where}: the private key cannot be read ({exc})") from exc
    certificate = blocks.get("CERTIFICATE")
    if certificate is not None:
        try:
            x509.load_pem_x509_certificate(certificate.encode())
        except ValueError as exc:
            raise SettingsError(f"{where}: the certificate cannot be read ({exc})") from exc
    thumbprint = (oauth2.certificate_thumbprint or "").replace(":", "").strip() or None
    if certificate is None and thumbprint is None:
        raise SettingsError(
            f"{where}: holds no certificate; add it to the file "
            "or set certificate_thumbprint"
        )
    return ClientCredentials(
        tenant_id=tenant_id, client_id=client_id, private_key=key, certificate=certificate,
        thumbprint=thumbprint,
    )


def _cause(codes: list[int], facts: dict[str, str]) -> str | None:
    for code in codes:
        if code in _CAUSES:
            return _CAUSES[code].format(**facts)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    errors: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in errors:
        errors.append(current)
        current = current.__cause__ or current.__context__
    return errors


def _reason(exc: BaseException) -> str:
    """The innermost useful words of a requests error ("[Errno 111] Connection refused")."""
    text = str(exc)
    found = re.search(r"certificate verify failed: ([^(]+?) \(_ssl|(\[Errno -?\d+\][^')\"]+)", text)
    if found:
        return (found.group(1) or found.group(2)).strip()
    return _first_line(text)


def _first_line(value: object) -> str:
    text = str(value).strip()
    line = text.splitlines()[0] if text else ""
    return line.split(" Trace ID:", 1)[0].strip()
