"""Settings: validated at start, one clear line per mistake, secrets never in the file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mailflow.errors import SettingsError
from mailflow.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_shipped_settings_run_on_embedded_defaults() -> None:
    """The shipped settings.toml is valid and uses Maildir, an outbox directory and SQLite."""
    settings = load_settings(REPO / "settings.toml")
    assert settings.mailbox.kind == "maildir"
    assert settings.smtp.kind == "directory"
    assert settings.database.url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[mailbox]\nport = "imap"\n', 'settings.toml: [mailbox] port: expected an integer, got "imap"'),
        ('[mailbox]\nkind = "pop3"\n', 'settings.toml: [mailbox] kind: expected "imap" or "maildir", got "pop3"'),
        ('[mailbox]\nprot = 993\n', "settings.toml: [mailbox] prot: unknown setting"),
        ('[staff]\ndigest_time = "sept heures"\n',
         'settings.toml: [staff] digest_time: expected a time "HH:MM", got "sept heures"'),
        ('[database]\nurl = "mysql://x"\n', "settings.toml: [database] url: expected \"sqlite:///PATH\" or"),
    ],
)
def test_wrong_value_names_the_key_and_what_is_expected(tmp_path: Path, text: str, message: str) -> None:
    """A wrong value gives one line naming the table, the key and the expected type."""
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_password_in_the_file_is_refused(tmp_path: Path) -> None:
    """A password written in the settings file is refused, pointing to password_env/password_file."""
    with pytest.raises(SettingsError, match=r"\[smtp\] password: secrets are not written in the settings file"):
        _load(tmp_path, '[smtp]\npassword = "hunter2"\n')


def test_password_comes_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """password_env reads the variable, password_file the file (systemd credentials)."""
    monkeypatch.setenv("MF_TEST_PW", "from-env")
    settings = _load(tmp_path, '[mailbox]\npassword_env = "MF_TEST_PW"\n')
    assert settings.mailbox.password() == "from-env"
    secret = tmp_path / "imap.secret"
    secret.write_text("from-file\n", encoding="utf-8")
    settings = _load(tmp_path, f'[smtp]\npassword_file = "{secret}"\n')
    assert settings.smtp.password() == "from-file"


def test_missing_env_variable_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password_env naming an unset variable says which variable."""
    monkeypatch.delenv("MF_UNSET_PW", raising=False)
    settings = _load(tmp_path, '[mailbox]\npassword_env = "MF_UNSET_PW"\n')
    with pytest.raises(SettingsError, match="MF_UNSET_PW is not set"):
        settings.mailbox.password()


def test_relative_paths_are_taken_from_the_settings_folder(tmp_path: Path) -> None:
    """Paths in the settings are relative to the file, not to the current directory."""
    settings = _load(tmp_path, '[archive]\npath = "store"\n')
    assert settings.resolve(settings.archive.path) == tmp_path.resolve() / "store"


def test_every_setting_is_documented_in_the_shipped_file() -> None:
    """Each key of each settings table appears (set or commented) in the shipped settings.toml."""
    text = (REPO / "settings.toml").read_text(encoding="utf-8")
    undocumented = []
    for table, section in Settings.model_fields.items():
        if table == "source":
            continue
        for key in section.annotation.model_fields:  # type: ignore[union-attr]
            if key in ("oauth2", "ca_file", "password_file", "message_id_domain", "timeout_seconds",
                       "idle_renew_seconds", "batch_size"):
                continue
            if not re.search(rf"^#?\s*{key}\s*=", text, re.MULTILINE):
                undocumented.append(f"[{table}] {key}")
    assert undocumented == []


def test_cli_malformed_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    """`mailflow check` style commands stop with exit 2 and one line, no traceback, on a malformed file."""
    path = tmp_path / "settings.toml"
    path.write_text('[mailbox]\nport = "imap"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", "--config", str(path), "proposals", "list"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == 'mailflow: settings.toml: [mailbox] port: expected an integer, got "imap"'
    assert "Traceback" not in result.stderr


def test_config_from_environment_variable(tmp_path: Path) -> None:
    """MAILFLOW_CONFIG names the settings file when --config is not given."""
    path = tmp_path / "elsewhere.toml"
    path.write_text("[mailbox]\nport = 0\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", "proposals", "list"],
        capture_output=True, text=True, timeout=60, env={"MAILFLOW_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "elsewhere.toml: [mailbox] port" in result.stderr
