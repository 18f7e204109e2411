"""What every command shares: the `mailflow` group, the settings and app built on demand, `--now`, and
mailflow's errors printed as one line with an exit status."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from mailflow.clock import ManualClock
from mailflow.errors import MailflowError, SettingsError
from mailflow.service.app import build_app
from mailflow.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def now_option(function: F) -> F:
    return click.option(
        "--now", "now", metavar="ISO-TIME", default=None,
        help="Pretend it is this moment (e.g. 2025-08-01T09:00+02:00): previews and tests of a campaign.",
    )(function)


def _clock(now: str | None) -> ManualClock | None:
    if now is None:
        return None
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        raise click.BadParameter(f"expected an ISO time such as 2025-08-01T09:00+02:00, got {now!r}") from None
    return ManualClock(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


class Context:
    """What every command gets: the settings path, loaded on demand, and the app built from it."""

    def __init__(self, config: Path | None):
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def app(self, now: str | None = None, **overrides: Any):  # noqa: ANN201 - App is imported lazily
        settings = self.settings

        return build_app(settings, clock=_clock(now), **overrides)


pass_context = click.make_pass_decorator(Context)


def guard(function: F) -> F:
    """Print mailflow's own errors as one line instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except SettingsError as exc:
            click.echo(f"mailflow: {exc}", err=True)
            sys.exit(2)
        except MailflowError as exc:
            click.echo(f"mailflow: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", type=click.Path(path_type=Path), envvar="MAILFLOW_CONFIG",
              help="Settings file (default ./settings.toml; also MAILFLOW_CONFIG).")
@click.version_option(package_name="mailflow")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """mailflow reads, files and answers the proposals mailed to INET's stages mailbox."""
    ctx.obj = Context(config)

