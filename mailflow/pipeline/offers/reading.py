"""Read a stage offer from a letter: its labelled lines, then the stage type, cadre and period from its words.

Offers come as a short letter more often than as a form. Whatever has a label ("Tuteur : …") is read
as a form field; the stage type and the cadre d'emplois are found by the words of the offer form
(`[[stage_types]]`, `[[cadres]]`), the dates by their French spelling, and both are matched to the
calendar's periods. What the reader cannot settle is returned as items "à vérifier" for staff. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from mailflow.campaign.calendars import Calendar, Period
from mailflow.pipeline.extract.folding import fold
from mailflow.pipeline.extract.normalize import normalise
from mailflow.pipeline.forms.definition import FieldDefinition, FormDefinition
from mailflow.pipeline.offers.vocabulary import Vocabulary
from mailflow.pipeline.recognise import Document

MONTHS = {"janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
          "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12}
_MONTH = "|".join(MONTHS)
_RANGE = re.compile(rf"\bdu (\d{{1,2}})(?:er)?(?: ou \d{{1,2}})?(?: ({_MONTH}))?(?: (\d{{4}}))? au "
                    rf"(\d{{1,2}})(?:er)?(?: ou \d{{1,2}})? ({_MONTH}) (\d{{4}})")
_NUMERIC = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}) (?:au|a|-) (\d{1,2})/(\d{1,2})/(\d{4})")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PERSON = re.compile(r"\b(?:M\.|Mme|Madame|Monsieur|Mr)\s+((?:[A-ZÀ-Ý][\w'’-]*\s*){1,4})")
_SIRET = re.compile(r"siret\D{0,30}((?:\d[ .\u00a0\u202f]?){14})", re.I)
_COLLECTIVITY = re.compile(
    r"\b((?:Ville|Commune|Mairie|Département|Conseil départemental|Région|Conseil régional|Métropole|"
    r"Eurométropole|Communauté d'agglomération|Communauté de communes|Communauté urbaine|Centre de gestion)"
    r"(?: de la| de l'| de| du| des| d'|')\s?[A-ZÀ-Ý][\w'’-]*(?:[ -](?:sur|en|lès|les|le|la|de|du)?[ -]?"
    r"[A-ZÀ-Ý][\w'’-]*)*)")
_STREET = re.compile(r"\b\d+[\w ,]*\b(?:rue|place|avenue|boulevard|quai|chemin|allée|cours|route|esplanade|"
                     r"parvis|square)\b.*\b\d{5}\b", re.I)
_TUTOR_WORDS = ("tuteur", "tutrice", "tutore", "aupres de", "encadre par", "encadree par", "maitre de stage")
_AGREEMENT_WORDS = ("convention",)


@dataclass(frozen=True)
class Placement:
    """One stage the offer is for: a period of the calendar and one cadre d'emplois."""

    period: str
    stage_type: str
    cadre: str
    starts: date
    ends: date
    offers_deadline: date | None
    type_id: str = ""
    cadre_id: str = ""
    starts_or: date | None = None  # the other possible first and last days (« du 28 ou 29 mars »)
    ends_or: date | None = None

    def as_dict(self) -> dict[str, Any]:
        """As stored in the proposal's fields (JSON)."""
        return {"period": self.period, "stage_type": self.stage_type, "cadre": self.cadre,
                "starts": self.starts.isoformat(), "ends": self.ends.isoformat(),
                "starts_or": _iso(self.starts_or), "ends_or": _iso(self.ends_or),
                "offers_deadline": _iso(self.offers_deadline)}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@dataclass(frozen=True)
class OfferReading:
    """An offer as read: the form's fields, the stages it is for, and what staff must check."""

    fields: dict[str, Any]
    placements: tuple[Placement, ...]
    to_check: tuple[str, ...]
    stage_types: tuple[str, ...]
    cadres: tuple[str, ...]


def french_period(starts: date, ends: date, starts_or: date | None = None, ends_or: date | None = None) -> str:
    """"du 14 mars au 8 avril 2022" (the year once when both dates share it); with the other possible
    days, "du 28 ou 29 mars au 15 ou 16 avril 2022"."""
    names = {v: k for k, v in MONTHS.items()} | {2: "février", 8: "août", 12: "décembre"}

    def day(first: date, other: date | None) -> str:
        number = f"{first.day}{'er' if first.day == 1 else ''}"
        if other is None:
            return f"{number} {names[first.month]}"
        if other.month == first.month:
            return f"{number} ou {other.day} {names[first.month]}"
        return f"{number} {names[first.month]} ou {other.day}{'er' if other.day == 1 else ''} {names[other.month]}"

    first = day(starts, starts_or)
    if starts.year != ends.year:
        first += f" {starts.year}"
    return f"du {first} au {day(ends, ends_or)} {(ends_or or ends).year}"


def read_labels(lines: Sequence[str], definition: FormDefinition) -> dict[str, list[str]]:
    """"Label : value" lines of the form's labels (a label alone on its line takes the lines below)."""
    labels = sorted(((fold(label), f) for f in definition.fields for label in f.labels), key=lambda x: -len(x[0]))
    ends = [fold(marker) for marker in definition.end_markers]
    values: dict[str, list[str]] = {}
    current: FieldDefinition | None = None
    for line in lines:
        left, colon, right = line.partition(":")
        found = next((f for key, f in labels if colon and fold(left) == key), None) if len(left) < 60 else None
        if found is not None:
            current = found if not right.strip() or found.type == "multiline" else None
            if found.path not in values:
                values[found.path] = [right.strip()] if right.strip() else []
            continue
        folded = fold(line)
        if current is None or any(folded.startswith(e) for e in ends if e):
            current = None
            continue
        if not line.strip():
            if values.get(current.path) and current.type != "multiline":
                current = None
            continue
        values.setdefault(current.path, []).append(line.strip())
    return {path: value for path, value in values.items() if value}


def _spans(terms_text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    return [m.span() for w in words for m in re.finditer(rf"(?<![a-z]){re.escape(fold(w))}", terms_text)]


def named(text: str, terms: Sequence[Any]) -> tuple[str, ...]:
    """The ids of the terms named in a text, in the order they appear. Words found only inside another
    term's longer words do not name their term ("élève conservateur" in "élève conservateur du patrimoine")."""
    folded = fold(text)
    spans = {t.id: _spans(folded, t.words) for t in terms}
    hits = []
    for term_id, found in spans.items():
        own = [(start, end) for start, end in found
               if not any(other != term_id and s <= start and end <= e and (s, e) != (start, end)
                          for other, theirs in spans.items() for s, e in theirs)]
        if own:
            hits.append((min(start for start, _ in own), term_id))
    return tuple(i for _, i in sorted(hits))


def date_ranges(text: str) -> list[tuple[date, date]]:
    """The periods a text gives: "du 14 mars au 8 avril 2022", "du 30 ou 31 mai au 13 juillet 2022",
    "14/03/2022 au 08/04/2022"."""
    folded = fold(text)
    found: list[tuple[date, date]] = []
    for m in _RANGE.finditer(folded):
        end_year, end_month = int(m.group(6)), MONTHS[m.group(5)]
        start_month = MONTHS[m.group(2)] if m.group(2) else end_month
        start_year = int(m.group(3)) if m.group(3) else end_year - (1 if start_month > end_month else 0)
        try:
            found.append((date(start_year, start_month, int(m.group(1))), date(end_year, end_month, int(m.group(4)))))
        except ValueError:
            continue
    for m in _NUMERIC.finditer(text.lower()):
        d1, m1, y1, d2, m2, y2 = (int(g) for g in m.groups())
        try:
            found.append((date(y1, m1, d1), date(y2, m2, d2)))
        except ValueError:
            continue
    return found


def _person(text: str) -> tuple[str | None, str | None, str | None]:
    """(name, role, e-mail) from "M. Paul DURAND, directeur général des services (dgs@…)"."""
    email = _EMAIL.search(text)
    person = _PERSON.search(text)
    name = person.group(0).strip() if person else None
    role = None
    rest = text[person.end():] if person else text
    rest = rest.replace(email.group(0), "") if email else rest
    role_match = re.match(r"\s*[,–-]\s*([^,(;.\n]+?)(?:\s*[,(;.]|$)", rest)
    if role_match:
        role = role_match.group(1).strip() or None
    return name, role, email.group(0).lower() if email else None


_LABELLED = re.compile(r"^\s*[^:\n]{1,60}\s:|^\s*[^:\n]{1,60}:\s")


def _paragraphs(text: str) -> list[str]:
    """The letter's paragraphs without their labelled lines, each on one line."""
    kept = "\n".join("" if _LABELLED.match(line) else line for line in text.split("\n"))
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", kept) if p.strip()]


def _sentences(text: str, words: Sequence[str]) -> list[str]:
    labelled = [line for line in text.split("\n") if _LABELLED.match(line)]
    parts = [s for p in _paragraphs(text) for s in re.split(r"(?<=[.!?])(?<!\bM\.)(?<!Mme\.)\s+", p)]
    return [p for p in labelled + parts if any(w in fold(p) for w in words)]


def _fill_from_text(fields: dict[str, Any], document: Document) -> None:
    """What a letter says without labels: collectivité, SIRET, address, tutor, agreement contact."""
    text = document.text
    collectivity, tutor, agreement, mission = (fields[k] for k in ("collectivity", "tutor", "agreement", "mission"))
    if not collectivity.get("name") and (match := _COLLECTIVITY.search(text)):
        collectivity["name"] = match.group(1).strip()
    if not collectivity.get("siret") and (match := _SIRET.search(text)):
        collectivity["siret"] = re.sub(r"\D", "", match.group(1))
    if not collectivity.get("address"):
        street = next((line.strip(" -–,") for line in document.lines if _STREET.search(line)), None)
        collectivity["address"] = street
    if tutor.get("name") and not tutor.get("role"):
        name, role, email = _person(tutor["name"])
        tutor["name"], tutor["role"] = name or tutor["name"], role
        tutor["email"] = tutor.get("email") or email
    for sentence in _sentences(text, _TUTOR_WORDS) if not tutor.get("name") else []:
        name, role, email = _person(sentence)
        if name:
            tutor.update(name=name, role=tutor.get("role") or role, email=tutor.get("email") or email)
            break
    for sentence in _sentences(text, _AGREEMENT_WORDS) if not agreement.get("email") else []:
        name, _, email = _person(sentence)
        if email:
            agreement.update(contact=agreement.get("contact") or name, email=email)
            break
    if not mission.get("description"):
        paragraphs = [p for p in _paragraphs(text) if "mission" in fold(p) and len(p) > 80]
        mission["description"] = max(paragraphs, key=len, default=None)


def _closest(periods: Sequence[Period], given: tuple[date, date]) -> list[Period]:
    """The periods that best match given dates (largest share of common days), none when none overlaps."""
    def share(p: Period) -> float:
        common = (min(p.ends, given[1]) - max(p.starts, given[0])).days + 1
        return common / ((max(p.ends, given[1]) - min(p.starts, given[0])).days + 1) if common > 0 else 0.0
    best = max((share(p) for p in periods), default=0.0)
    return [p for p in periods if best > 0 and share(p) == best]


def _periods_for(calendar: Calendar | None) -> list[Period]:
    return [p for p in (calendar.periods if calendar else ()) if p.stage_type]


def _resolve(types: Sequence[str], cadres: Sequence[str], ranges: Sequence[tuple[date, date]],
             calendar: Calendar | None, words: Vocabulary) -> tuple[list[tuple[Period, str]], list[str]]:
    """The (period, cadre) pairs an offer is for, and the reasons to check it."""
    periods = _periods_for(calendar)
    year = calendar.title if calendar else "aucune campagne"
    notes: list[str] = []
    for c in cadres:
        if words.cadre(c).elsewhere:
            notes.append(f"stage.cadres: offre pour des {words.cadre(c).title}\u00a0: {words.cadre(c).elsewhere}")
            continue
        for t in types:
            if not any(p.stage_type == t and c in p.cadres for p in periods):
                notes.append(f"stage.type: {words.stage_type(t).title.lower()} non proposé aux "
                             f"{words.cadre(c).title} ({year})")
    candidates = [p for p in periods if (not types or p.stage_type in types)
                  and (not cadres or set(cadres) & set(p.cadres))]
    if ranges:
        dated = [p for p in candidates if any(p in _closest(candidates, r) for r in ranges)]
        if dated:
            candidates = dated
        elif candidates:
            given = ", ".join(french_period(s, e) for s, e in ranges)
            notes.append(f"stage.period: période indiquée ({given}) différente de celle du calendrier")
    if not types and not (ranges and candidates and len({p.stage_type for p in candidates}) == 1):
        notes.append("stage.type: type de stage non reconnu dans l'offre")
        return [], notes
    if not candidates:
        return [], notes
    if not cadres and len({c for p in candidates for c in p.cadres}) > 1:
        notes.append("stage.cadres: cadre d'emplois non précisé (" + ", ".join(
            sorted({words.cadre(c).title for p in candidates for c in p.cadres})) + ")")
        return [], notes
    pairs = [(p, c) for p in candidates for c in p.cadres if not cadres or c in cadres]
    return pairs, notes


def read_offer(document: Document, definition: FormDefinition, calendar: Calendar | None,
               words: Vocabulary) -> OfferReading:
    """An offer read from one document (a letter in the body or an attachment)."""
    labelled = read_labels(document.lines, definition)
    fields: dict[str, Any] = normalise(labelled, definition)
    _fill_from_text(fields, document)
    stage = fields["stage"]
    types = named(stage.get("type") or "", words.stage_types) or named(document.text, words.stage_types)
    cadres = named(stage.get("cadres") or "", words.cadres) or named(document.text, words.cadres)
    ranges = date_ranges(stage.get("period") or "") or date_ranges(document.text)
    pairs, notes = _resolve(types, cadres, ranges, calendar, words)
    placements = tuple(
        Placement(p.id, words.stage_type(p.stage_type or "").title, words.cadre(c).title, p.starts, p.ends,
                  p.offers_deadline, p.stage_type or "", c, p.starts_or, p.ends_or)
        for p, c in pairs
    )
    if placements:
        stage["type"] = ", ".join(dict.fromkeys(x.stage_type for x in placements))
        stage["cadres"] = ", ".join(dict.fromkeys(x.cadre for x in placements))
        stage["period"] = " ; ".join(dict.fromkeys(french_period(x.starts, x.ends, x.starts_or, x.ends_or)
                                                   for x in placements))
    else:
        stage["type"] = stage.get("type") or ", ".join(words.stage_type(t).title for t in types) or None
        stage["cadres"] = stage.get("cadres") or ", ".join(words.cadre(c).title for c in cadres) or None
    fields["placements"] = [x.as_dict() for x in placements]
    return OfferReading(fields, placements, tuple(notes), tuple(types), tuple(cadres))
