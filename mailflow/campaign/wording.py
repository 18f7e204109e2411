"""The French words of the staff digest and `mailflow schedule list`: counts that agree, ages, days left.

Plural agreement follows CLDR through babel (in French 0 and 1 take the singular), so no
template writes « proposition(s) ». Dates are « vendredi 5 septembre », times « 9 h 30 »,
with the non-breaking spaces of French typography.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo

from babel.dates import format_date

from mailflow.campaign.export import to_check_items
from mailflow.mail.french import count, time_fr
from mailflow.mail.template_context import label_or_path

LOCALE = "fr_FR"
NBSP = "\u00a0"


def day_fr(value: date | datetime, zone: tzinfo, *, year: bool = False) -> str:
    """`vendredi 5 septembre` (`vendredi 5 septembre 2025` with `year`), `lundi 1er décembre`."""
    day = value.astimezone(zone).date() if isinstance(value, datetime) else value
    text = format_date(day, "EEEE d MMMM y" if year else "EEEE d MMMM", locale=LOCALE)
    if day.day == 1:
        text = text.replace(" 1 ", " 1er ", 1)
    head, _, tail = text.partition(" ")
    return f"{head} {tail.replace(' ', NBSP)}"


def moment_fr(value: datetime, zone: tzinfo) -> str:
    """`jeudi 28 août, 10 h`."""
    return f"{day_fr(value, zone)}, {time_fr(value, zone)}"


def short_fr(value: datetime, zone: tzinfo) -> str:
    """`28/08 à 10 h` (tables)."""
    moment = value.astimezone(zone)
    return f"{moment:%d/%m} à {time_fr(value, zone)}"


def age_fr(since: datetime, now: datetime, zone: tzinfo) -> str:
    """How long something has waited: « depuis aujourd'hui », « depuis hier », « depuis 10 jours »."""
    days = (now.astimezone(zone).date() - since.astimezone(zone).date()).days
    if days <= 0:
        return "depuis aujourd'hui"
    if days == 1:
        return "depuis hier"
    return f"depuis {count(days, 'jour', 'jours')}"


def days_left_fr(day: date, today: date) -> str:
    """« aujourd'hui », « demain », « dans 4 jours, J-4 », « il y a 2 jours »."""
    days = (day - today).days
    if days == 0:
        return "aujourd'hui"
    if days == 1:
        return "demain"
    if days < 0:
        return f"il y a {count(-days, 'jour', 'jours')}"
    return f"dans {count(days, 'jour', 'jours')}, J-{days}"


def problem_fr(label: Callable[[str], str], text: str) -> str:
    """`collectivity.siret: numéro invalide` in the form's words: « N° de SIRET… : numéro invalide »."""
    path, sep, reason = text.partition(":")
    if not sep or " " in path.strip():
        return text  # already a sentence
    return f"{label_or_path(label, path.strip())}{NBSP}: {reason.strip()}"


def checks_fr(label: Callable[[str], str], flags: Sequence[object]) -> list[str]:
    """What staff should check: fields read without confidence (by the form's label), then the other flags."""
    return [problem_fr(label, item) for item in to_check_items(flags)] + [f for f in flags if isinstance(f, str)]
