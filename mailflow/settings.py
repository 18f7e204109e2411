"""Settings: `settings.toml` declared once as typed models, validated at start.

A wrong value stops the service with one line naming the file, the key and what is
expected. Secrets never live in the file: `password_env` names an environment
variable, `password_file` a file (systemd's LoadCredential works that way).
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, time
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from mailflow.errors import SettingsError
from mailflow.toml_errors import toml_error, validation_reason

DEFAULT_CONFIG = Path("settings.toml")
SECRET_KEYS = ("password", "client_secret", "secret", "token")



def known_zone(value: str) -> str:
    """`value` when it names a time zone (settings, calendars); ValueError saying so otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone "{value}" (e.g. "Europe/Paris")') from None
    return value


def mail_address(value: str, example: str) -> None:
    """ValueError unless `value` is one e-mail address, bare or with a display name."""
    name, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(ch.isspace() for ch in address):
        raise ValueError(f'expected an e-mail address {example}, got "{value}"')

class Section(BaseModel):
    """A settings table: unknown keys are refused, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(Section):
    """Where a password comes from: an environment variable or a file, never the settings file."""

    password_env: str | None = Field(None, description="Environment variable holding the password.")
    password_file: Path | None = Field(None, description="File holding the password (systemd credential).")

    def password(self) -> str | None:
        """The password, read now from its source, or None when none is configured."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"password_file {self.password_file}: cannot be read ({exc.strerror})") from exc
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise SettingsError(f"password_env: environment variable {self.password_env} is not set")
            return value
        return None


class OAuth2(Section):
    """Microsoft Entra ID application used for XOAUTH2 (client-credentials flow)."""

    authority: str = Field("https://login.microsoftonline.com", description="Identity provider base URL.")
    tenant_id_env: str | None = Field(None, description="Environment variable holding the tenant id.")
    tenant_id_file: Path | None = None
    client_id_env: str | None = Field(None, description="Environment variable holding the client id.")
    client_id_file: Path | None = None
    client_secret_env: str | None = Field(None, description="Environment variable holding the client secret.")
    client_secret_file: Path | None = None
    certificate_file: Path | None = Field(None, description="PEM private key + certificate, instead of a secret.")
    certificate_thumbprint: str | None = None
    ca_file: Path | None = Field(None, description="CA bundle to verify the identity provider (tests).")


class MailboxSettings(Secret):
    """The mailbox mailflow watches."""

    kind: Literal["imap", "maildir"] = "maildir"
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: Path | None = Field(None, description="CA bundle to verify the server (default: system CAs).")
    username: str = ""
    auth: Literal["password", "oauth2"] = "password"
    oauth2: OAuth2 | None = None
    folder: str = "INBOX"
    handle_since: date | None = Field(
        None, description="Handle mail received from this day on (default: since mailflow first watched)."
    )
    path: Path = Path("var/inbox")
    processed_folder: str = "mailflow/Traités"
    attention_folder: str = "mailflow/À traiter"
    ignored_folder: str = "mailflow/Ignorés"
    idle: bool = True
    poll_seconds: Annotated[int, Field(ge=5)] = 60
    idle_renew_seconds: Annotated[int, Field(ge=30, le=29 * 60)] = 25 * 60
    max_message_bytes: Annotated[int, Field(ge=1024)] = 25 * 1024 * 1024
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50
    reader_processes: Annotated[int | None, Field(ge=0, le=64)] = Field(
        None, description="Worker processes reading attachments (default: one per CPU beyond the first; "
                          "0: read in the daemon itself).")
    timeout_seconds: Annotated[int, Field(ge=1)] = 60
    internal_domains: list[str] | None = Field(
        None, description="The institute's own mail domains (default: those of username and of the sender)."
    )


class SmtpSettings(Secret):
    """Where outgoing mail goes."""

    kind: Literal["smtp", "directory"] = "directory"
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["tls", "starttls", "none"] = "starttls"
    ca_file: Path | None = None
    username: str = ""
    auth: Literal["password", "oauth2"] = "password"
    oauth2: OAuth2 | None = None
    sender: str = "INET - Stages <stages.inet@cnfpt.fr>"
    path: Path = Path("var/outbox")

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        mail_address(value, 'such as "INET - Stages <stages.inet@cnfpt.fr>"')
        return value
    timeout_seconds: Annotated[int, Field(ge=1)] = 60
    max_attempts: Annotated[int, Field(ge=1)] = 12
    answers_per_sender_per_day: Annotated[int, Field(ge=0)] = 5
    message_id_domain: str | None = Field(None, description="Domain of our Message-IDs (default: the sender's "
                                          "address made a domain: stages.inet@cnfpt.fr gives stages.inet.cnfpt.fr).")


class DatabaseSettings(Section):
    """The database: SQLite (default) or PostgreSQL."""

    url: str = "sqlite:///var/mailflow.sqlite3"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql")):
            raise ValueError(f'expected "sqlite:///PATH" or "postgresql+psycopg://…", got "{url}"')
        return url


class ArchiveSettings(Section):
    """Where raw mails and attachments are kept."""

    path: Path = Path("var/archive")


class StaffSettings(Section):
    """Who reads the digest, and when."""

    digest_recipients: list[str] = ["stages.inet@cnfpt.fr"]
    digest_time: time = time(7, 30)
    digest_when_empty: bool = False
    alert_after_minutes: Annotated[int, Field(ge=1)] = 15

    @field_validator("digest_time", mode="before")
    @classmethod
    def _hh_mm(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return time.fromisoformat(value)
            except ValueError:
                raise ValueError(f'expected a time "HH:MM", got "{value}"') from None
        if isinstance(value, int | float):
            raise ValueError(f'expected a time "HH:MM" in quotes, got {value}')
        return value

    @field_validator("digest_recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            mail_address(address, 'such as "stages.inet@cnfpt.fr"')
        return value


class CampaignSettings(Section):
    """Where the campaign calendars are, and their time zone."""

    schedules: Path = Path("schedules")
    templates: Path = Path("templates")
    timezone: str = "Europe/Paris"
    grace_hours: Annotated[int, Field(ge=0)] = 72

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)


class InstituteSettings(Section):
    """Who the mails are from and whom to contact at the institute (every mail's signature)."""

    service: str = Field("Le service des stages de l'INET", description="Signature's first line.")
    name: str = "CNFPT – Institut national des études territoriales"
    city: str = "Strasbourg"
    mailbox: str = Field("stages.inet@cnfpt.fr", description="The address collectivités write to.")
    contact_name: str = Field("Ingrid VIBET", description="The internship officer named in every mail.")
    contact_role: str = "Responsable des stages des élèves de l'INET"
    contact_email: str = "ingrid.vibet@cnfpt.fr"
    contact_phones: list[str] = Field(["03 88 15 53 69", "06 10 53 03 78"], description="As dialled in France.")


class LoggingSettings(Section):
    """One line per event on stdout."""

    format: Literal["plain", "json"] = "plain"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class WebSettings(Section):
    """The staff console (`mailflow web`): where it listens, who may sign in, how logins are throttled."""

    host: str = Field("127.0.0.1", description="Address to listen on (behind a reverse proxy: loopback).")
    port: Annotated[int, Field(ge=1, le=65535)] = 8400
    base_url: str = Field("http://127.0.0.1:8400", description="The console's address as staff reach it.")
    staff: list[str] = Field([], description="Addresses allowed to sign in with Microsoft 365.")
    microsoft_signin: bool = Field(False, description="Offer Microsoft 365 sign-in (tenant of [mailbox.oauth2]).")
    secret_file: Path = Field(Path("var/web-secret"), description="Key signing the session cookies (created).")
    session_hours: Annotated[int, Field(ge=1, le=24 * 7)] = 10
    slow_after: Annotated[int, Field(ge=1)] = 3
    failure_delay_seconds: Annotated[float, Field(ge=0, le=30)] = 1.0
    lockout_after: Annotated[int, Field(ge=1)] = 5
    lockout_minutes: Annotated[int, Field(ge=1)] = 15

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f'expected an address such as "https://mailflow.inet.example", got "{url}"')
        return url.rstrip("/")

    @property
    def secure(self) -> bool:
        """Cookies are sent over HTTPS only when staff reach the console over HTTPS."""
        return self.base_url.startswith("https://")


class Settings(Section):
    """Everything mailflow needs to run, read from one TOML file."""

    mailbox: MailboxSettings = MailboxSettings()
    smtp: SmtpSettings = SmtpSettings()
    database: DatabaseSettings = DatabaseSettings()
    archive: ArchiveSettings = ArchiveSettings()
    staff: StaffSettings = StaffSettings()
    campaigns: CampaignSettings = CampaignSettings()
    institute: InstituteSettings = InstituteSettings()
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        """The file these settings came from (None: built in code). Not a key of the file."""
        return self._source

    @model_validator(mode="after")
    def _polled_within_the_stall_alert(self) -> Settings:
        if self.mailbox.poll_seconds * 2 > self.staff.alert_after_minutes * 60:
            raise ValueError(f"[mailbox] poll_seconds ({self.mailbox.poll_seconds}) must be at most half of [staff] "
                             f"alert_after_minutes ({self.staff.alert_after_minutes} min): between two polls "
                             "and a slow pass, the daemon would be taken for stalled")
        return self

    @model_validator(mode="after")
    def _oauth2_configured(self) -> Settings:
        for name in ("mailbox", "smtp"):
            section = getattr(self, name)
            if section.auth == "oauth2" and section.oauth2 is None:
                raise ValueError(f'[{name}] auth = "oauth2" needs a [{name}.oauth2] table')
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the settings, relative to the settings file's folder."""
        if path.is_absolute() or self.source is None:
            return path
        return self.source.parent / path


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the settings file (`--config`, `MAILFLOW_CONFIG`, or ./settings.toml)."""
    if path is None:
        path = Path(os.environ.get("MAILFLOW_CONFIG") or DEFAULT_CONFIG)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found (use --config or MAILFLOW_CONFIG)") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(toml_error(path, text, exc)) from None
    _refuse_secrets(path, raw)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_one_line(path, exc)) from None
    settings._source = path.resolve()  # noqa: SLF001 - set once, by the one function that reads the file
    return settings


def _refuse_secrets(path: Path, raw: dict[str, Any], where: tuple[str, ...] = ()) -> None:
    for key, value in raw.items():
        if isinstance(value, dict):
            _refuse_secrets(path, value, (*where, key))
        elif key in SECRET_KEYS:
            table = f"[{'.'.join(where)}] " if where else ""
            raise SettingsError(
                f"{path.name}: {table}{key}: secrets are not written in the settings file; "
                f"use {key}_env (an environment variable) or {key}_file (a file) instead"
            )


def _one_line(path: Path, exc: ValidationError) -> str:
    loc, reason = validation_reason(exc, unknown="unknown setting")
    location = [str(part) for part in loc]
    if not location:  # a rule across tables: its reason names them
        return f"{path.name}: {reason}"
    table = f"[{'.'.join(location[:-1])}] " if len(location) > 1 else ""
    return f"{path.name}: {table}{location[-1]}: {reason}"
