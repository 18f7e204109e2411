"""French for the mails: dates, times, numbers, phones, articles, salutations and typography.

Every template uses these filters (registered by `Templates`), so a rule of French
administrative writing is written once: « le vendredi 20 juin 2025 », « de 9 h à 9 h 30 »,
« de la Ville de Brest », « Madame la Directrice générale adjointe, », a non-breaking space
before « : » and inside « 4 000 € ». Dates and plurals come from babel (CLDR), phone numbers
from phonenumbers; what CLDR does not know (articles, salutations) is a short list of rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

import jinja2
import phonenumbers
from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

LOCALE = "fr_FR"
NBSP = "\u00a0"
NNBSP = "\u202f"
_FRENCH = Locale.parse(LOCALE)
# Numbers the French numbering plan covers, written in the national format « 01 23 45 67 89 ».
_FRENCH_REGIONS = frozenset({"FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF"})


# --- dates and times ---------------------------------------------------------------------------------


def local(value: date | datetime | str, zone: tzinfo) -> date | datetime:
    """A date as given, or a datetime (ISO text too) in `zone`; a naive datetime is taken as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone)
    return value


def day_of(value: date | datetime | str, zone: tzinfo) -> date:
    """The calendar day of a date or moment, in `zone`."""
    moment = local(value, zone)
    return moment.date() if isinstance(moment, datetime) else moment


def date_fr(value: date | datetime | str, zone: tzinfo) -> str:
    """`vendredi 20 juin 2025`, `mercredi 1er octobre 2025`."""
    day = day_of(value, zone)
    text = format_date(day, "EEEE d MMMM y", locale=LOCALE)
    text = text.replace(" 1 ", " 1er ", 1) if day.day == 1 else text
    return _glue(text)


def time_fr(value: time | datetime | str, zone: tzinfo) -> str:
    """`9 h`, `9 h 30`, `14 h 05` (no « 9 h 00 »), with non-breaking spaces."""
    moment = value if isinstance(value, time) else local(value, zone)
    if isinstance(moment, datetime):
        moment = moment.time()
    elif not isinstance(moment, time):
        raise ValueError(f"not a time: {value!r}")
    pattern = "H 'h'" if moment.minute == 0 else "H 'h' mm"
    return format_time(moment, pattern, locale=LOCALE).replace(" ", NBSP)


def datetime_fr(value: datetime | date | str, zone: tzinfo) -> str:
    """`mercredi 27 août 2025 à 10 h`, `lundi 1er décembre 2025 à 9 h 05`."""
    moment = local(value, zone)
    if not isinstance(moment, datetime):
        return date_fr(moment, zone)
    return f"{date_fr(moment, zone)} à {time_fr(moment, zone)}"


def hours_fr(start: datetime | str, end: datetime | str, zone: tzinfo) -> str:
    """`de 9 h à 9 h 30`."""
    return f"de {time_fr(start, zone)} à {time_fr(end, zone)}"


def month_fr(value: date | datetime | str, zone: tzinfo) -> str:
    """The month's name alone (`août`), e.g. for « courant août »."""
    return format_date(day_of(value, zone), "MMMM", locale=LOCALE)


def dates_fr(values: Iterable[date | datetime | str], zone: tzinfo, conjunction: str = "et") -> str:
    """Several days as French prose: `mercredi 27, jeudi 28 et vendredi 29 août 2025` (`conjunction`: "ou"
    for days of which one will be)."""
    days = [day_of(value, zone) for value in values]
    words = []
    for index, day in enumerate(days):
        later = days[index + 1] if index + 1 < len(days) else None
        if later is not None and (later.year, later.month) == (day.year, day.month):
            number = "1er" if day.day == 1 else str(day.day)
            words.append(f"{format_date(day, 'EEEE', locale=LOCALE)} {number}")
        elif later is not None and later.year == day.year:
            words.append(date_fr(day, zone).rsplit(NBSP, 1)[0])
        else:
            words.append(date_fr(day, zone))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def period_fr(start: date | datetime | str, end: date | datetime | str, zone: tzinfo,
              start_or: date | datetime | str | None = None, end_or: date | datetime | str | None = None) -> str:
    """`du lundi 13 octobre au vendredi 19 décembre 2025` (the year once when both share it); with the
    other possible days, `du lundi 28 ou mardi 29 mars au vendredi 15 ou samedi 16 avril 2022`."""
    first, last = day_of(start, zone), day_of(end, zone)
    first_text = _or(first, day_of(start_or, zone) if start_or else None, zone)
    if first.year == last.year:
        first_text = first_text.rsplit(NBSP, 1)[0]
    return f"du {first_text} au {_or(last, day_of(end_or, zone) if end_or else None, zone)}"


def _or(day: date, other: date | None, zone: tzinfo) -> str:
    """`vendredi 15 avril 2022`, or with the other possible day `vendredi 15 ou samedi 16 avril 2022`."""
    return date_fr(day, zone) if other is None else dates_fr([day, other], zone, conjunction="ou")


def stage_period(stage: Any, zone: tzinfo) -> str:
    """A stage's period as `period_fr` writes it, from a calendar period or a stored placement (a mapping)
    with `starts`, `ends` and, where the brochure gives two possible days, `starts_or`, `ends_or`."""
    value = stage.get if isinstance(stage, Mapping) else lambda key: getattr(stage, key, None)
    return period_fr(value("starts"), value("ends"), zone, value("starts_or"), value("ends_or"))


def _glue(text: str) -> str:
    """Keep a day number with its month and a month with its year (« 20 juin 2025 » never split)."""
    return re.sub(r"(\d+(?:er)?) (\w+) (\d{4})$", rf"\1{NBSP}\2{NBSP}\3", text)


# --- numbers and phones -------------------------------------------------------------------------------


def number_fr(value: int | float) -> str:
    """`4 000`, `1 234,5`: French grouping with a narrow non-breaking space."""
    return format_decimal(value, locale=LOCALE).replace(NBSP, NNBSP)


def euros(amount: int | float) -> str:
    """`4 000 €`."""
    return f"{number_fr(amount)}{NBSP}€"


def siret(value: str | None) -> str:
    """A SIRET as people write it (`216 902 668 00013`), never split across lines; anything else unchanged."""
    if value and len(value) == 14 and value.isdigit():
        return NBSP.join((value[:3], value[3:6], value[6:9], value[9:]))
    return value or ""


def phone(value: str | None) -> str:
    """A phone number as a reader dials it: `01 99 00 56 78` for French numbers, `+32 2 234 56 78` else."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(number):
        return value
    french = phonenumbers.region_code_for_number(number) in _FRENCH_REGIONS
    style = phonenumbers.PhoneNumberFormat.NATIONAL if french else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style).replace(" ", NBSP)


def plural(count: int | float, singular: str, plural_form: str) -> str:
    """The word that agrees with `count` in French (CLDR: 0 and 1 take the singular)."""
    return singular if _FRENCH.plural_form(count) == "one" else plural_form


def count(value: int | float, singular: str, plural_form: str) -> str:
    """`1 proposition`, `3 propositions`, `0 proposition`."""
    return f"{number_fr(value)}{NBSP}{plural(value, singular, plural_form)}"


# --- a collectivité's name with its article -----------------------------------------------------------

# The first word of a collectivité's name and its gender. A name that starts with anything else
# (« Brest métropole », « Paris ») takes no article.
_FEMININE = ("ville", "commune", "communauté", "communaute", "métropole", "metropole", "région", "region",
             "collectivité", "collectivite", "mairie", "agglomération", "agglomeration", "eurométropole",
             "eurometropole", "préfecture", "direction", "ca", "cc", "cu")
_MASCULINE = ("département", "departement", "conseil", "syndicat", "centre", "établissement",
              "etablissement", "territoire", "pôle", "pole", "pays", "groupement", "sdis", "ccas", "cd")
_PLURAL = ("hospices",)
_VOWEL = re.compile(r"^[aeiouyàâäéèêëîïôöùûüœæh]", re.IGNORECASE)
_ASPIRATED = ("hospices",)


def _article(name: str) -> str:
    """`la `, `le `, `l'`, `les ` or `` for a collectivité's name."""
    first = re.split(r"[\s'’-]", name.strip(), maxsplit=1)[0].lower()
    if first in _PLURAL:
        return "les "
    if first not in _FEMININE and first not in _MASCULINE:
        return ""
    if _VOWEL.match(first) and first not in _ASPIRATED and first not in ("ca", "cc", "cu", "cd"):
        return "l'"
    return "la " if first in _FEMININE else "le "


def collectivite(name: str | None, preposition: str = "", fallback: str = "votre collectivité") -> str:
    """A collectivité's name with its article after `preposition` (« de », « à », « au sein de »…).

    `de la Ville de Brest`, `du Département de la Drôme`, `de l'Eurométropole de Strasbourg`,
    `de Brest métropole`, `au sein de la Communauté d'agglomération du Val d'Exemple`.
    Without a name, `fallback` (« votre collectivité ») after the preposition.
    """
    if not name or not name.strip():
        words = fallback
    else:
        name = " ".join(name.split())
        article = _article(name)
        shown = name[0].upper() + name[1:] if article else name
        words = f"{article}{shown}"
    if not preposition:
        return words
    head = preposition.rstrip()
    if head.endswith(" de") or head == "de":
        stem = head[:-2]
        if words.startswith("le "):
            return f"{stem}du {words[3:]}"
        if words.startswith("les "):
            return f"{stem}des {words[4:]}"
        if _VOWEL.match(words) and not words.startswith(("la ", "le ", "les ")) and words.lower()[:1] != "h":
            return f"{stem}d'{words}"
        return f"{head} {words}"
    if head.endswith("à") or head == "à":
        stem = head[:-1]
        if words.startswith("le "):
            return f"{stem}au {words[3:]}"
        if words.startswith("les "):
            return f"{stem}aux {words[4:]}"
    return f"{head} {words}"


# --- salutations --------------------------------------------------------------------------------------

_CIVILITY = re.compile(r"^\s*(mme|madame|mlle|mademoiselle|monsieur|mr|m)(?:\.|\b)", re.IGNORECASE)
_TITLE = re.compile(
    r"^\s*(?P<head>directeur|directrice)\s+(?P<general>générale?)"
    r"(?:\s+(?P<kind>adjointe?|déléguée?))?(?:\s+(?P<services>des\s+services(?:\s+techniques)?))?",
    re.IGNORECASE,
)
_ABBREVIATIONS = {
    "dgs": "directeur général des services", "dga": "directeur général adjoint",
    "dgas": "directeur général adjoint des services", "dgst": "directeur général des services techniques",
}


def civility(text: str | None) -> str | None:
    """« Madame » or « Monsieur » when `text` starts with a civility (Mme, M., Monsieur…), else None."""
    match = _CIVILITY.match(text or "")
    if not match:
        return None
    return "Madame" if match.group(1).lower().startswith(("mme", "mad", "mlle", "mademoiselle")) else "Monsieur"


def title_of(role: str | None, civility_word: str | None = None) -> str | None:
    """The title a letter is addressed to (`Directrice générale adjointe`), without the portfolio."""
    if not role:
        return None
    text = " ".join(role.split())
    short = text.split()[0].lower().strip(".,") if text else ""
    if short in _ABBREVIATIONS and civility_word is not None:
        text = _ABBREVIATIONS[short]
        if civility_word == "Madame":
            text = (text.replace("directeur", "directrice").replace("général ", "générale ")
                    .replace("général", "générale").replace("adjoint", "adjointe"))
    match = _TITLE.match(text)
    if not match:
        return None
    title = " ".join(part for part in match.group("head", "general", "kind", "services") if part)
    return title[0].upper() + title[1:].lower()


def salutation(person: Mapping[str, Any] | None = None, civility_text: str | None = None) -> str:
    """The opening line of a letter: `Madame la Directrice générale adjointe,`, `Madame,`, `Madame, Monsieur,`.

    The civility comes from `civility_text` (« Mme Claire Marchal ») or from the grammatical gender
    of the person's role (« Directrice… »); the title from the role. Nothing is guessed from a first name.
    """
    person = person or {}
    word = civility(civility_text) or civility(person.get("civility"))
    role = person.get("role")
    match = _TITLE.match(" ".join((role or "").split()))
    if word is None and match:
        word = "Madame" if match.group("head").lower() == "directrice" else "Monsieur"
    if word is None:
        return "Madame, Monsieur,"
    title = title_of(role, word)
    if title is None:
        return f"{word},"
    return f"{word} {'la' if word == 'Madame' else 'le'} {title},"


# --- typography -----------------------------------------------------------------------------------------

_BEFORE_HIGH = re.compile(r"[ \t]+(?=[:;!?»])")
_AFTER_GUILLEMET = re.compile(r"«[ \t]+")
_IN_NUMBER = re.compile(r"(?<=\d) (?=\d)")
_BEFORE_UNIT = re.compile(r"(?<=\d) (?=(?:h|€|%|min|minutes?|jours?|semaines?|heures?|élèves|Mo|ko)\b)")
_TAG = re.compile(r"(<[^>]*>)")


def typography(text: str) -> str:
    """French spacing: non-breaking spaces before : ; ! ? », after «, inside numbers and before units."""
    text = _BEFORE_HIGH.sub(lambda m: NBSP, text)
    text = _AFTER_GUILLEMET.sub("«" + NBSP, text)
    text = _IN_NUMBER.sub(NBSP, text)
    return _BEFORE_UNIT.sub(NBSP, text)


def typography_html(html: str) -> str:
    """`typography` on the text of an HTML document, never inside its tags."""
    parts = _TAG.split(html)
    return "".join(part if index % 2 else typography(part) for index, part in enumerate(parts))


# --- the filters as Jinja2 sees them ----------------------------------------------------------------------


def to_come(context: Mapping[str, Any], value: date | datetime | str | list[Any], zone: tzinfo) -> bool:
    """Whether a date (the last of a list) is today or later, for the mail's `today`.

    Without a `today` in the context (a preview with no clock) every date is to come.
    """
    today = context.get("today")
    if today is None:
        return True
    last = value[-1] if isinstance(value, list) else value
    return day_of(last, zone) >= day_of(today, zone)


def filters(zone: tzinfo) -> dict[str, Any]:
    """Every French filter for templates, dates and times in `zone` (the campaigns' time zone)."""
    @jinja2.pass_context
    def to_come_filter(context: Any, value: Any) -> bool:
        return to_come(context, value, zone)

    return {
        "date_fr": lambda value: date_fr(value, zone),
        "datetime_fr": lambda value: datetime_fr(value, zone),
        "time_fr": lambda value: time_fr(value, zone),
        "hours_fr": lambda start, end: hours_fr(start, end, zone),
        "dates_fr": lambda values: dates_fr(values, zone),
        "month_fr": lambda value: month_fr(value, zone),
        "period_fr": lambda start, end: period_fr(start, end, zone),
        "stage_period": lambda stage: stage_period(stage, zone),
        "euros": euros,
        "number_fr": number_fr,
        "siret": siret,
        "phone": phone,
        "plural": plural,
        "count": count,
        "collectivite": collectivite,
        "salutation": salutation,
        "to_come": to_come_filter,
    }
