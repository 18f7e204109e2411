"""Access tokens from Microsoft Entra ID through MSAL (the client-credentials flow), and the reasons
an administrator can act on when Entra ID refuses them. Loaded only where OAuth2 is configured."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msal
import requests

from mailflow.errors import AuthenticationError, IdentityProviderUnreachable, SettingsError
from mailflow.mail.oauth_credentials import EXCHANGE_SCOPE, ClientCredentials, read_credentials
from mailflow.settings import OAuth2

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


def token_source(oauth2: OAuth2, table: str, timeout: float) -> MsalTokenSource:
    """The token source of the settings table `table` (`mailbox.oauth2`), its credentials read now."""
    return MsalTokenSource(read_credentials(oauth2, table), authority=oauth2.authority, ca_file=oauth2.ca_file,
                           timeout=timeout)


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
