"""Settings: validated at start, one clear line per mistake, secrets never in the file."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

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
        ('source = "elsewhere.toml"\n', "settings.toml: source: unknown setting"),
        ('[mailbox]\npoll_seconds = 451\n', "settings.toml: [mailbox] poll_seconds (451) must be at most half of "
                                            "[staff] alert_after_minutes (15 min)"),
        ('[mailbox]\nauth = "oauth2"\n', 'settings.toml: [mailbox] auth = "oauth2" needs a [mailbox.oauth2] table'),
        ('[staff]\ndigest_time = "sept heures"\n',
         'settings.toml: [staff] digest_time: expected a time "HH:MM", got "sept heures"'),
        ('[database]\nurl = "mysql://x"\n', "settings.toml: [database] url: expected \"sqlite:///PATH\" or"),
        # Wrong in ways that passed before: answers, the digest or every date would fail later, unseen.
        ('[smtp]\nsender = "INET Stages"\n', 'settings.toml: [smtp] sender: expected an e-mail address such as '
                                              '"INET - Stages <stages.inet@cnfpt.fr>", got "INET Stages"'),
        ('[staff]\ndigest_recipients = ["stages inet"]\n',
         'settings.toml: [staff] digest_recipients: expected an e-mail address such as "stages.inet@cnfpt.fr", '
         'got "stages inet"'),
        ('[staff]\ndigest_time = 730\n', 'settings.toml: [staff] digest_time: expected a time "HH:MM" in quotes, '
                                          "got 730"),
        ('[campaigns]\ntimezone = "Europe/Pariss"\n',
         'settings.toml: [campaigns] timezone: unknown time zone "Europe/Pariss" (e.g. "Europe/Paris")'),
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


HEADER = re.compile(r"^#?\s*\[([\w.]+)\]\s*(?:#.*)?$")      # [smtp], or commented out: # [smtp.oauth2]
KEY = re.compile(r"^#?\s*(\w+)\s*=")                          # key = value, or commented out: # key = value
CONTINUATION = re.compile(r"^(?:\s+#|#\s+#)")                  # a comment indented under the line above


def sub_table(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a field that is a table of its own (`[mailbox]`, `[mailbox.oauth2]`), else None."""
    for candidate in get_args(field.annotation) or (field.annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def settings_tables(model: type[BaseModel] = Settings, table: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """Each table of the settings file ("" for the top level, "mailbox.oauth2"…) and the model it is read into."""
    yield table, model
    for key, field in model.model_fields.items():
        if (sub := sub_table(field)) is not None:
            yield from settings_tables(sub, f"{table}.{key}" if table else key)


def shipped_documentation() -> tuple[set[str], dict[tuple[str, str], str]]:
    """The tables of the shipped settings.toml, and (table, key) -> the key's lines, set or commented out.

    A table starts at its header, commented out (`# [mailbox.oauth2]`) or not; a key's lines are its
    own (`key = value` or `# key = value`) and the comment lines indented under it.
    """
    tables, keys = {""}, {}
    table, current = "", None
    for line in (REPO / "settings.toml").read_text(encoding="utf-8").splitlines():
        if current is not None and CONTINUATION.match(line):
            keys[current] += "\n" + line
            continue
        current = None
        if header := HEADER.match(line):
            table = header.group(1)
            tables.add(table)
        elif key := KEY.match(line):
            current = (table, key.group(1))
            keys[current] = line
    return tables, keys


def test_every_setting_is_documented_in_the_shipped_file() -> None:
    """Each key of each settings table, sub-tables included, appears set or commented out in its own table
    of the shipped settings.toml: a setting added to mailflow/settings.py without its line here fails."""
    tables, keys = shipped_documentation()
    undocumented = []
    for table, model in settings_tables():
        if table not in tables:
            undocumented.append(f"[{table}] (the table itself: a header, commented out if it is optional)")
        for key, field in model.model_fields.items():
            if sub_table(field) is not None:
                continue  # a sub-table is checked as a table of its own
            if (table, key) not in keys:
                undocumented.append(f"[{table}] {key}")
    assert undocumented == [], (
        "settings missing from the shipped settings.toml (add each to its table, as `key = default` or "
        "`# key = example` with its meaning and default): " + ", ".join(undocumented)
    )


def test_the_shipped_file_states_each_default() -> None:
    """Each key of the shipped settings.toml is a setting of its table with a valid value, and says its default.

    A key that is set has its default value (the file runs on the embedded defaults); a commented-out key
    shows its default value, or is unset by default (None), or its comment says "default".
    """
    _, keys = shipped_documentation()
    models = dict(settings_tables())
    wrong = []
    for (table, key), lines in keys.items():
        model = models.get(table)
        if model is None or key not in model.model_fields:
            wrong.append(f"[{table}] {key}: not a setting of this table")
            continue
        first = lines.split("\n", 1)[0]
        try:
            value = getattr(model.model_validate(tomllib.loads(first.lstrip("#"))), key)
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            wrong.append(f"[{table}] {key}: {first.strip()!r} is not a valid value ({exc})")
            continue
        default = getattr(model(), key)
        if not first.startswith("#") and value != default:
            wrong.append(f"[{table}] {key}: set to {value!r}, but the default is {default!r}")
        elif first.startswith("#") and value != default and default is not None and "default" not in lines.lower():
            wrong.append(f"[{table}] {key}: the example {value!r} is not the default; say \"(default: …)\"")
    assert wrong == [], "in the shipped settings.toml: " + "; ".join(wrong)


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
