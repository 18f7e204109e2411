"""Who mailflow is for Microsoft Entra ID: the tenant, the application's id and its client secret or
certificate, read from the environment or from files named in the settings, never from the settings
file itself."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailflow.errors import SettingsError
from mailflow.settings import OAuth2

EXCHANGE_SCOPE = "https://outlook.office365.com/.default"

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


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
