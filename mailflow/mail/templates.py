"""The mail templates (Jinja2, French), rendered with the French filters into a subject, a text and an HTML body.

Templates are files staff can edit (`templates/<audience>/<name>.{subject,txt,html}.j2`), read from the
templates folder with the shipped copy as fallback; a variable missing from the context fails loudly
(StrictUndefined) instead of producing a mail with a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date
from babel.numbers import format_decimal

from mailflow.errors import TemplateError
from mailflow.mail.compose import RenderedMail, one_line
from mailflow.shipped import shipped

if TYPE_CHECKING:
    from mailflow.settings import Settings

LOCALE = "fr_FR"
SUFFIXES = (".subject.j2", ".txt.j2", ".html.j2")


def shipped_templates() -> Path:
    """The templates that come with mailflow: the installed copy, or `<repo>/templates` in a checkout."""
    return shipped("templates")


class Templates:
    """The mail templates, read from `directory` with the shipped copy as fallback for any file not there.

    Text templates are rendered as they are; HTML templates are autoescaped, so a value read
    from a mail (`<script>`, `&`) is shown, never interpreted.
    """

    def __init__(self, directory: Path | None = None, *, timezone: str | tzinfo = "Europe/Paris"):
        folders = [shipped_templates()]
        if directory is not None and directory.resolve() != folders[0].resolve():
            folders.insert(0, directory)
        self.folders: tuple[Path, ...] = tuple(folders)
        self.timezone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self.env = jinja2.Environment(
            loader=_snapshot(jinja2.FileSystemLoader([str(folder) for folder in folders])),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            date_fr=self.date_fr,
            datetime_fr=self.datetime_fr,
            dates_fr=self.dates_fr,
            month_fr=self.month_fr,
            period_fr=self.period_fr,
            euros=euros,
            siret=siret_spaced,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Templates:
        """Templates from `[campaigns] templates`, in the campaigns' time zone."""
        return cls(settings.resolve(settings.campaigns.templates), timezone=settings.campaigns.timezone)

    def names(self) -> list[str]:
        """Every mail template name (e.g. `collectivite/accuse-reception`); partials (`_*.j2`) excluded."""
        found = set()
        for template in self.env.list_templates(extensions=["j2"]):
            if template.endswith(SUFFIXES[0]) and not Path(template).name.startswith("_"):
                found.add(template.removesuffix(SUFFIXES[0]))
        return sorted(found)

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render the subject, text and HTML of template `name`; TemplateError says which file and why."""
        parts = []
        for suffix in SUFFIXES:
            filename = name + suffix
            try:
                parts.append(self.env.get_template(filename).render(context))
            except jinja2.TemplateNotFound:
                raise TemplateError(
                    f"template {filename} not found in {', '.join(map(str, self.folders))}"
                ) from None
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {filename}, line {exc.lineno}: {exc.message}") from None
            except jinja2.UndefinedError as exc:
                raise TemplateError(f"template {filename}: {exc.message} (not in the context)") from None
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise TemplateError(f"template {filename}: {exc.__class__.__name__}: {exc}") from None
        subject, text, html = parts
        return RenderedMail(subject=one_line(subject), text=_tidy_text(text), html=html)

    def _local(self, value: date | datetime | str) -> date | datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value.astimezone(self.timezone)
        return value

    def date_fr(self, value: date | datetime | str) -> str:
        """`vendredi 20 juin 2025` (`mercredi 1er octobre 2025`), in the campaigns' time zone."""
        day = self._local(value)
        day = day.date() if isinstance(day, datetime) else day
        text = format_date(day, "EEEE d MMMM y", locale=LOCALE)
        return text.replace(" 1 ", " 1er ", 1) if day.day == 1 else text

    def datetime_fr(self, value: datetime | str) -> str:
        """`mercredi 27 août 2025 à 10 h 00`, in the campaigns' time zone."""
        moment = self._local(value)
        if not isinstance(moment, datetime):
            return self.date_fr(moment)
        return f"{self.date_fr(moment)} à {moment.hour} h {moment.minute:02d}"

    def month_fr(self, value: date | datetime | str) -> str:
        """The month's name alone (`août`), e.g. for « courant août »."""
        return format_date(self._local(value), "MMMM", locale=LOCALE)

    def dates_fr(self, values: Iterable[date | datetime | str]) -> str:
        """Several days as French prose: `mercredi 27, jeudi 28 et vendredi 29 août 2025`."""
        days = [self._local(value) for value in values]
        days = [day.date() if isinstance(day, datetime) else day for day in days]
        if not days:
            return ""
        words = []
        for index, day in enumerate(days):
            later = days[index + 1] if index + 1 < len(days) else None
            if later is not None and (later.year, later.month) == (day.year, day.month):
                number = "1er" if day.day == 1 else str(day.day)
                words.append(f"{format_date(day, 'EEEE', locale=LOCALE)} {number}")
            elif later is not None and later.year == day.year:
                words.append(self.date_fr(day).rsplit(" ", 1)[0])
            else:
                words.append(self.date_fr(day))
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " et " + words[-1]

    def period_fr(self, start: date | datetime | str, end: date | datetime | str) -> str:
        """`du lundi 13 octobre au vendredi 19 décembre 2025` (the year once when both share it)."""
        first, last = self._local(start), self._local(end)
        first_text, last_text = self.date_fr(first), self.date_fr(last)
        if first.year == last.year:
            first_text = first_text.rsplit(" ", 1)[0]
        return f"du {first_text} au {last_text}"


def _snapshot(files: jinja2.FileSystemLoader) -> jinja2.DictLoader:
    """The templates as they are now: an edit on disk applies at the next start or reload (SIGHUP), not
    halfway through a running daemon, and a broken edit can be refused while the old ones stay."""
    return jinja2.DictLoader({name: files.get_source(None, name)[0] for name in files.list_templates()})  # type: ignore[arg-type]


def euros(amount: int | float) -> str:
    """`4 000 €` with French digit grouping."""
    return f"{format_decimal(amount, locale=LOCALE)}\u00a0€"


def siret_spaced(value: str | None) -> str:
    """A SIRET as people write it (`216 902 668 00013`); anything else unchanged."""
    if value and len(value) == 14 and value.isdigit():
        return f"{value[:3]} {value[3:6]} {value[6:9]} {value[9:]}"
    return value or ""


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"
