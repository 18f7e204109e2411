"""The mail templates (Jinja2, French), rendered with the French filters into a subject, a text and an HTML body.

Templates are files staff can edit (`templates/<audience>/<name>.{subject,txt,html}.j2`), read from the
templates folder with the shipped copy as fallback; a variable missing from the context fails loudly
(StrictUndefined) instead of producing a mail with a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2

from mailflow.errors import TemplateError
from mailflow.mail import french
from mailflow.mail.compose import RenderedMail, one_line
from mailflow.settings import InstituteSettings
from mailflow.shipped import shipped

if TYPE_CHECKING:
    from mailflow.settings import Settings

SUFFIXES = (".subject.j2", ".txt.j2", ".html.j2")


def shipped_templates() -> Path:
    """The templates that come with mailflow: the installed copy, or `<repo>/templates` in a checkout."""
    return shipped("templates")


class Templates:
    """The mail templates, read from `directory` with the shipped copy as fallback for any file not there.

    Text templates are rendered as they are; HTML templates are autoescaped, so a value read
    from a mail (`<script>`, `&`) is shown, never interpreted.
    """

    def __init__(
        self, directory: Path | None = None, *, timezone: str | tzinfo = "Europe/Paris",
        institute: InstituteSettings | None = None,
    ):
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
        self.env.filters.update(french.filters(self.timezone))
        self.env.globals["institute"] = institute or InstituteSettings()

    @classmethod
    def from_settings(cls, settings: Settings) -> Templates:
        """Templates from `[campaigns] templates`, in the campaigns' time zone, signed by `[institute]`."""
        return cls(
            settings.resolve(settings.campaigns.templates), timezone=settings.campaigns.timezone,
            institute=settings.institute,
        )

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
        return RenderedMail(
            subject=one_line(french.typography(subject)), text=_tidy_text(french.typography(text)),
            html=french.typography_html(html),
        )


def _snapshot(files: jinja2.FileSystemLoader) -> jinja2.DictLoader:
    """The templates as they are now: an edit on disk applies at the next start or reload (SIGHUP), not
    halfway through a running daemon, and a broken edit can be refused while the old ones stay."""
    return jinja2.DictLoader({name: files.get_source(None, name)[0] for name in files.list_templates()})  # type: ignore[arg-type]


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"
