"""Answers: render the French mail templates and compose safe, threaded outgoing mails.

Templates are files staff can edit (`templates/<audience>/<name>.{subject,txt,html}.j2`); a
variable missing from the context fails loudly (StrictUndefined) instead of producing a mail
with a hole in it. `compose()` turns a rendered mail into an RFC 5322 message whose headers
cannot be broken by anything a sender wrote (subjects, names, Message-IDs they sent us).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy, compat32
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date
from babel.numbers import format_decimal
from email_validator import EmailNotValidError, validate_email

from mailflow.errors import MailflowError, TemplateError
from mailflow.shipped import shipped

if TYPE_CHECKING:
    from mailflow.db.models import Message
    from mailflow.service.app import App
    from mailflow.settings import Settings

LOCALE = "fr_FR"
SUFFIXES = (".subject.j2", ".txt.j2", ".html.j2")
MAX_SUBJECT = 200
MAX_HEADER_TEXT = 300
MAX_REFERENCES = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MSGID = re.compile(r"<[^<>\s\"]{1,250}@[^<>\s\"@]{1,250}>")


class AddressError(MailflowError):
    """An address to write in a header is not a valid e-mail address (the mail is not composed)."""


class HeaderError(MailflowError):
    """A composed mail would not read back with the headers it was given (a bug; nothing is sent)."""


@dataclass(frozen=True)
class RenderedMail:
    """A template rendered for one mail: a one-line subject, a text body and an HTML body."""

    subject: str
    text: str
    html: str


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


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """Text made safe for a header: one bounded line, with no encoded-word syntax left.

    Control characters and line breaks become spaces. `=?` is split, because the email
    package decodes a literal `=?utf-8?b?…?=` in a header value it is given, which could
    otherwise smuggle a line break, and a header, into the mail.
    """
    flat = " ".join(_CONTROL.sub(" ", text).split()).replace("=?", "= ?")
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class MailPolicy(EmailPolicy):
    """policy.SMTP, except that Subject is folded by the legacy encoder.

    The modern folder can put two encoded words on either side of a fold, and RFC 2047
    readers then drop the space between them ("reçue après" is shown "reçueaprès").
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "subject":
            return self._subject(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "subject":
            return self._subject(name, value).encode("ascii")
        return super().fold_binary(name, value)

    def _subject(self, name: str, value: str) -> str:
        words = str(value).split(" ")
        plain = 0
        while plain < len(words) and words[plain].isascii():
            plain += 1
        header = Header(header_name=name)
        if plain:
            header.append(" ".join(words[:plain]), "us-ascii")
        if plain < len(words):
            header.append(" ".join(words[plain:]), "utf-8")
        folded = header.encode(linesep=self.linesep, maxlinelen=self.max_line_length or 78)
        return f"{name}: {folded}{self.linesep}"


MAIL_POLICY = MailPolicy(linesep="\r\n")


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"


def parse_address(value: str) -> Address:
    """One address (`Name <a@b>` or `a@b`) as a header object; AddressError when it is not one."""
    flat = one_line(value, MAX_HEADER_TEXT * 2)
    pairs = [pair for pair in getaddresses([flat]) if pair[1]]
    if len(pairs) != 1:
        raise AddressError(f"not one e-mail address: {flat[:80]!r}")
    name, spec = pairs[0]
    try:
        valid = validate_email(
            spec, check_deliverability=False, allow_smtputf8=False, globally_deliverable=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        raise AddressError(f"not a valid e-mail address: {spec[:80]!r} ({exc})") from None
    local, _, domain = valid.ascii_email.rpartition("@")
    return Address(display_name=one_line(name, 100), username=local, domain=domain)


def message_ids(values: Iterable[str | None]) -> list[str]:
    """The well-formed `<id@domain>` Message-IDs in header values a sender wrote, in order, once each."""
    found: list[str] = []
    for value in values:
        for match in _MSGID.findall(value or ""):
            if match not in found:
                found.append(match)
    return found


def new_message_id(domain: str, now: datetime) -> str:
    """A Message-ID on our domain: the UTC time for people, random bits for uniqueness."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{secrets.token_hex(10)}@{domain}>"


def compose(
    rendered: RenderedMail,
    *,
    sender: str,
    to: list[str],
    cc: Sequence[str] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-replied",
    message_id_domain: str,
    now: datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """An outgoing mail: text and HTML alternatives, threaded to the mail it answers, marked automatic.

    Every header value that may come from a sender (subject, display names, Message-IDs) is
    reduced to one bounded line, so it cannot add headers or break the mail. `attachments` are
    (filename, MIME type, bytes).
    """
    if not to:
        raise AddressError("a mail needs at least one recipient")
    mail = EmailMessage(policy=MAIL_POLICY)
    mail["From"] = parse_address(sender)
    mail["To"] = [parse_address(address) for address in to]
    if cc:
        mail["Cc"] = [parse_address(address) for address in cc]
    mail["Subject"] = one_line(rendered.subject)
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = new_message_id(message_id_domain, now)
    parent = message_ids([in_reply_to])
    if parent:
        mail["In-Reply-To"] = parent[0]
    thread = message_ids([*references, *parent])[-MAX_REFERENCES:]
    if thread:
        mail["References"] = " ".join(thread)
    mail["Auto-Submitted"] = one_line(auto_submitted, 40)
    mail["X-Auto-Response-Suppress"] = "All"
    mail["Content-Language"] = "fr-FR"
    mail.set_content(rendered.text, charset="utf-8")
    mail.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for filename, mime_type, data in attachments:
        maintype, _, subtype = mime_type.partition("/")
        mail.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream",
            filename=one_line(filename, 150),
        )
    _check_headers(mail)
    return mail


def preview(mail: EmailMessage) -> str:
    """A composed mail as staff proof-read it: main headers decoded, then the text and HTML parts."""
    lines = [f"{name}: {mail[name]}" for name in
             ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "Auto-Submitted")
             if mail[name] is not None]
    for kind in ("plain", "html"):
        part = mail.get_body((kind,))
        if part is not None:
            content = part.get_content().replace("\r\n", "\n")
            lines += ["", f"----- {'text' if kind == 'plain' else 'HTML'} part -----", content.rstrip("\n")]
    for attachment in mail.iter_attachments():
        lines.append(f"----- attachment: {attachment.get_filename()} ({attachment.get_content_type()}) -----")
    return "\n".join(lines) + "\n"


def _check_headers(mail: EmailMessage) -> None:
    """Serialise the headers and read them back: the same names, in the same order, or HeaderError."""
    head = mail.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    written = [name.lower() for name in BytesHeaderParser(policy=compat32).parsebytes(head)]
    if written != [name.lower() for name in mail]:
        raise HeaderError(f"headers changed when written: {written} (subject {str(mail['Subject'])[:80]!r})")


# --- the context the collectivité templates expect -------------------------------------------------


def _label_or_path(label: Callable[[str], str], path: str) -> str:
    try:
        return label(path) or path
    except LookupError:
        return path


def missing_items(paths: Iterable[str], label: Callable[[str], str]) -> list[dict[str, str]]:
    """`missing` paths as `[{"path", "label"}]`, labelled with the form's own wording (else the path)."""
    return [{"path": path, "label": _label_or_path(label, path)} for path in paths]


def problem_items(problems: Iterable[str], label: Callable[[str], str]) -> list[dict[str, str]]:
    """`problems` (`"path: reason"`) as `[{"path", "label", "reason"}]`."""
    items = []
    for problem in problems:
        path, _, reason = problem.partition(":")
        path = path.strip()
        reason = reason.strip() or "valeur invalide"
        items.append({"path": path, "label": _label_or_path(label, path), "reason": reason})
    return items


def mail_context(
    *,
    proposal: Mapping[str, Any] | None = None,
    label: Callable[[str], str] = lambda path: path,
    campaign: Any = None,
    original: Mapping[str, Any] | None = None,
    unreadable: Sequence[Mapping[str, str]] = (),
    slot: Mapping[str, Any] | None = None,
    supersedes: str | None = None,
) -> dict[str, Any]:
    """The full context every collectivité template can rely on (absent things are None or empty).

    `proposal` is the export dict (`export.proposal_record`); `label` maps a dotted path to the
    form's label (`FormDefinition.label`); `original` describes the mail being answered.
    """
    record = dict(proposal) if proposal is not None else None
    if record is not None:
        record.setdefault("supersedes", supersedes)
    return {
        "proposal": record,
        "missing_items": missing_items(record.get("missing", []), label) if record else [],
        "problem_items": problem_items(record.get("problems", []), label) if record else [],
        "campaign": campaign,
        "original": dict(original or {"subject": "", "message_id": None, "sender": "", "received_at": None}),
        "unreadable": [dict(item) for item in unreadable],
        "slot": dict(slot) if slot is not None else None,
    }


def acknowledgement_template(proposal: Mapping[str, Any], *, late: bool = False) -> str:
    """Which acknowledgement a filed proposal gets: late, new version, incomplete or complete."""
    if late or proposal.get("status") == "late":
        return "collectivite/hors-delai"
    if proposal.get("supersedes") or (proposal.get("version") or 1) > 1:
        return "collectivite/nouvelle-version"
    if proposal.get("missing") or proposal.get("problems") or proposal.get("status") == "incomplete":
        return "collectivite/accuse-reception-incomplet"
    return "collectivite/accuse-reception"


# --- previews: `mailflow templates render NAME [--ref REF]` ----------------------------------------

ACKNOWLEDGEMENTS = (
    "collectivite/accuse-reception",
    "collectivite/accuse-reception-incomplet",
    "collectivite/nouvelle-version",
    "collectivite/hors-delai",
    "collectivite/document-illisible",
    "collectivite/question-recue",
)
SPECIMEN = "_exemple.json"


def specimen(templates: Templates, name: str) -> dict[str, Any]:
    """The made-up proposal of `templates/_exemple.json`, adapted to template `name` (for previews)."""
    for folder in templates.folders:
        path = folder / SPECIMEN
        if path.is_file():
            break
    else:
        raise TemplateError(f"{SPECIMEN} not found in {', '.join(map(str, templates.folders))}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{path}: cannot be read as JSON ({exc})") from None
    variant = data.get("variants", {}).get(name, {})
    proposal = variant.get("proposal", {})
    return {
        "proposal": None if proposal is None else _merged(data["proposal"], proposal),
        "original": _merged(data["original"], variant.get("original", {})),
        "unreadable": data.get("unreadable", []),
        "slot": data.get("slot"),
    }


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def original_context(message: Message) -> dict[str, Any]:
    """The received mail an answer is about, as templates see it (`original`)."""
    return {
        "subject": message.subject,
        "message_id": message.message_id,
        "sender": message.sender,
        "received_at": message.received_at,
    }


def render_for_reference(app: App, name: str, reference: str | None) -> EmailMessage:
    """Template `name` rendered and composed as it would be sent about proposal `reference`.

    Without a reference the made-up example proposal is used, so staff can proof-read a
    template before any proposal is filed. Nothing is queued or sent.
    """
    from sqlalchemy import select

    from mailflow.campaign.export import proposal_record
    from mailflow.db.models import Proposal, Slot

    now = app.clock.now()
    auto = "auto-replied" if name in ACKNOWLEDGEMENTS else "auto-generated"
    if reference is None:
        example = specimen(app.templates, name)
        record = example["proposal"]
        campaign_id = record["campaign"] if record else None
        campaign = app.calendars.get(campaign_id) if campaign_id else None
        context = mail_context(
            proposal=record, label=app.form.label, original=example["original"],
            campaign=campaign or app.current_calendar(now) or _any(app.calendars),
            unreadable=example["unreadable"], slot=example["slot"],
        )
        recipient = (record or example["original"])["sender"]
        rendered = app.templates.render(name, context)
        return compose(
            rendered, sender=app.settings.smtp.sender, to=[recipient],
            in_reply_to=example["original"].get("message_id"), auto_submitted=auto,
            message_id_domain=app.message_id_domain, now=now,
        )
    with app.sessions() as session:
        proposal = session.scalar(select(Proposal).where(Proposal.reference == reference.strip().upper()))
        if proposal is None:
            raise MailflowError(f"no proposal with reference {reference} (see `mailflow proposals list`)")
        record = proposal_record(proposal)
        original = original_context(proposal.message)
        first_slot = select(Slot).where(Slot.proposal_pk == proposal.id).order_by(Slot.starts_at)
        slot_row = session.scalar(first_slot)
        slot = {"starts_at": slot_row.starts_at, "ends_at": slot_row.ends_at} if slot_row else None
        context = mail_context(
            proposal=record, label=app.form.label, original=original,
            campaign=app.calendars.get(proposal.campaign) if proposal.campaign else None, slot=slot,
        )
    rendered = app.templates.render(name, context)
    return compose(
        rendered, sender=app.settings.smtp.sender, to=[proposal.sender], in_reply_to=original["message_id"],
        auto_submitted=auto, message_id_domain=app.message_id_domain, now=now,
    )


def _any(calendars: Mapping[str, Any]) -> Any:
    return next(iter(calendars.values()), None)
