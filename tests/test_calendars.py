"""Campaign calendars: the shipped ones match the seeds; a bad one is refused with file, line and reason."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from mailflow.campaign.calendar_file import load_calendar, load_calendars
from mailflow.campaign.calendars import find_campaign
from mailflow.errors import CalendarError
from mailflow.mail.templates import Templates

REPO = Path(__file__).resolve().parents[1]
SCHEDULES = REPO / "schedules"
PROJECTS = SCHEDULES / "projet-collectif-2025-2026.toml"


@pytest.fixture(scope="module")
def template_names() -> list[str]:
    return Templates(REPO / "templates").names()


@pytest.fixture(scope="module")
def calendars(template_names: list[str]) -> dict:
    return load_calendars(SCHEDULES, template_names)


def bad_calendar(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of the shipped 2025-2026 calendar with one line changed; the folder and that line's number."""
    text = PROJECTS.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "projets.toml").write_text(text.replace(old, new), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    return folder, line


def refusal(folder: Path, template_names: list[str]) -> str:
    with pytest.raises(CalendarError) as caught:
        load_calendars(folder, template_names)
    return str(caught.value)


def test_shipped_project_calendar_has_the_seed_timetable(calendars: dict) -> None:
    """The 2025-2026 calendar carries seed 001's dates: deadline 20 June, Teams 27-29 August, and the rest."""
    projects = calendars["projet-collectif-2025-2026"]
    assert projects.form == "projet_collectif"
    assert (projects.reference_prefix, projects.reference_year) == ("PC", 2025)
    assert projects.deadline == date(2025, 6, 20)
    assert projects.dates["teams_meetings"] == [date(2025, 8, 27), date(2025, 8, 28), date(2025, 8, 29)]
    assert projects.dates["teams_formed"] == date(2025, 9, 5)
    assert projects.dates["tutor_calls"] == date(2025, 9, 11)
    assert (projects.dates["project_start"], projects.dates["project_end"]) == (
        date(2025, 10, 13),
        date(2025, 12, 19),
    )
    assert projects.contribution_eur == 4000
    assert str(projects.timezone) == "Europe/Paris"
    assert {s.kind for s in projects.slots} == {"teams", "appel-tuteur"}
    assert projects.slot_rule("teams").days == (date(2025, 8, 27), date(2025, 8, 28), date(2025, 8, 29))
    [decisions] = projects.staff_actions
    assert (decisions.title, decisions.date, decisions.statuses) == (
        "Décisions à prendre", date(2025, 9, 5), ("complete", "to_check", "late")
    )
    assert projects.reminder("invitation-teams").announce == "Invitation à la réunion Teams"


def test_shipped_stage_calendar_has_each_offer_deadline(calendars: dict) -> None:
    """The 2022-2023 calendar has seed 000's « Dépôt des offres jusqu'au » date for each stage type."""
    stages = calendars["stages-2022-2023"]
    deadlines = {p.id: p.offers_deadline for p in stages.periods if p.offers_deadline}
    assert deadlines == {
        "observation-administrateurs": date(2021, 11, 29),
        "observation-conservateurs": date(2021, 11, 29),
        "observation-ingenieurs": date(2022, 2, 18),
        "thematique": date(2022, 1, 28),
        "projets-collectifs": date(2022, 6, 24),
    }
    assert stages.period("projets-collectifs").starts == date(2022, 10, 10)
    reminded = {r.period for r in stages.reminders}
    assert reminded == set(deadlines)
    assert all(r.audience == ("past_senders",) for r in stages.reminders)


def test_every_reminder_names_a_shipped_template(calendars: dict, template_names: list[str]) -> None:
    """Each reminder of the shipped calendars has its template (subject, text, HTML) in templates/."""
    for calendar in calendars.values():
        for reminder in calendar.reminders:
            assert reminder.template in template_names, (calendar.id, reminder.id)


def test_reminder_times_are_read_as_times_of_day(calendars: dict) -> None:
    """Times are "HH:MM" in the campaign's time zone; omitted, a reminder goes at 09:00."""
    projects = calendars["projet-collectif-2025-2026"]
    assert projects.reminder("equipe-retenue").at == time(14, 0)
    assert projects.reminder("relance-incomplet").offset_days == -7


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (datetime(2025, 6, 2, 9, 0, tzinfo=UTC), False),
        (datetime(2025, 6, 20, 21, 30, tzinfo=UTC), False),  # 23:30 in Paris on the deadline day
        (datetime(2025, 6, 20, 22, 30, tzinfo=UTC), True),  # 00:30 in Paris on 21 June
        (datetime(2025, 10, 12, 21, 0, tzinfo=UTC), True),
    ],
)
def test_find_campaign_tells_late_by_the_paris_day(
    calendars: dict, received: datetime, expected: bool
) -> None:
    """A proposal is late when received after the end of 20 June in Paris, not in UTC."""
    found = find_campaign(calendars.values(), "projet_collectif", received)
    assert found is not None
    calendar, late = found
    assert calendar.id == "projet-collectif-2025-2026"
    assert late is expected


def test_find_campaign_is_none_outside_the_campaign_or_for_another_form(calendars: dict) -> None:
    """After `closes`, or for a form no calendar takes, no campaign accepts the proposal."""
    assert (
        find_campaign(calendars.values(), "projet_collectif", datetime(2025, 10, 12, 22, 30, tzinfo=UTC))
        is None
    )
    assert (
        find_campaign(calendars.values(), "projet_collectif", datetime(2024, 12, 31, 12, tzinfo=UTC)) is None
    )
    assert find_campaign(calendars.values(), "autre_formulaire", datetime(2025, 6, 2, tzinfo=UTC)) is None


def test_a_bad_date_is_refused_with_file_and_line(tmp_path: Path, template_names: list[str]) -> None:
    """31 June does not exist: the error names the file, the line of the date and says it is invalid."""
    folder, line = bad_calendar(tmp_path, "teams_formed = 2025-09-05", "teams_formed = 2025-09-31")
    message = refusal(folder, template_names)
    assert message.startswith(f"{folder / 'projets.toml'}, line {line}: ")
    assert "invalid date" in message


def test_a_date_written_as_text_is_refused(tmp_path: Path, template_names: list[str]) -> None:
    """A reminder date in quotes that is no named date is refused on its own line."""
    folder, line = bad_calendar(tmp_path, "date = 2025-08-04", 'date = "2025-08-32"')
    message = refusal(folder, template_names)
    assert f", line {line}: reminder 'invitation-teams': date: " in message
    assert "not a valid date" in message


def test_an_unknown_template_is_refused_with_file_and_line(tmp_path: Path, template_names: list[str]) -> None:
    """A reminder naming a template that does not exist is refused at start, not on its day."""
    folder, line = bad_calendar(
        tmp_path, 'template = "tuteur/grille-evaluation"', 'template = "tuteur/grille-evalution"'
    )
    message = refusal(folder, template_names)
    assert message == (
        f"{folder / 'projets.toml'}, line {line}: reminder 'grille-evaluation': template: "
        'unknown template "tuteur/grille-evalution"'
    )


def test_an_unknown_audience_is_refused_with_file_and_line(tmp_path: Path, template_names: list[str]) -> None:
    """An audience mailflow does not know (here "rh" for "hr") is refused, listing the known ones."""
    folder, line = bad_calendar(tmp_path, 'audience = "hr"', 'audience = "rh"')
    message = refusal(folder, template_names)
    assert f", line {line}: reminder 'convention-rh': audience: unknown audience \"rh\"" in message
    assert "sender, tutor, hr, dgs, staff, past_senders" in message


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            'date = "teams_formed"\ntime = "14:30"',
            'date = "teams_formd"\ntime = "14:30"',
            'unknown named date "teams_formd"',
        ),
        (
            "length_minutes = 30\ngap_minutes = 0",
            "length_minute = 30\ngap_minutes = 0",
            "length_minute: unknown key",
        ),
        ('hours = ["09:30-12:30"', 'hours = ["12:30-09:30"', 'expected a time range such as "09:00-12:00"'),
        ('statuses = ["rejected"]', 'statuses = ["refused"]', 'unknown status "refused"'),
        ('time = "14:30"', 'time = "14h30"', 'expected a time of day "HH:MM", got "14h30"'),
        ('slot = "appel-tuteur"\nics = true', 'slot = "appel"\nics = true', 'unknown slot kind "appel"'),
        (
            'timezone = "Europe/Paris"',
            'timezone = "Europe/Strasbourg"',
            'unknown time zone "Europe/Strasbourg"',
        ),
        ('id = "veille-teams"', 'id = "invitation-teams"', 'reminder id "invitation-teams" is used twice'),
        ('statuses = ["complete", "to_check", "late"]\nnotice_days', 'statuses = ["complet"]\nnotice_days',
         "staff_action 'decisions': statuses: unknown status \"complet\""),
        ('date = "teams_formed"\nstatuses', 'date = "equipes"\nstatuses', 'unknown named date "equipes"'),
    ],
)
def test_other_mistakes_are_refused_on_their_line(
    tmp_path: Path, template_names: list[str], old: str, new: str, reason: str
) -> None:
    """Typos staff may make each give the file, the line of the mistake and what is wrong."""
    folder, line = bad_calendar(tmp_path, old, new)
    message = refusal(folder, template_names)
    assert re.match(rf"^{re.escape(str(folder / 'projets.toml'))}, line {line}: ", message), message
    assert reason in message


def test_the_second_possible_day_of_a_period_must_come_after_the_first(
    tmp_path: Path, template_names: list[str]
) -> None:
    """`starts_or` is the later of a period's two possible first days (« du 28 ou 29 mars »): one written
    before `starts` is refused on its line."""
    text = (REPO / "schedules" / "stages-2022-2023.toml").read_text(encoding="utf-8")
    assert text.count("starts_or = 2022-03-29") == 1
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "stages.toml").write_text(text.replace("starts_or = 2022-03-29", "starts_or = 2022-03-27"),
                                        encoding="utf-8")
    message = refusal(folder, template_names)
    line = text[: text.index("starts_or = 2022-03-29")].count("\n") + 1
    assert f"stages.toml, line {line}: " in message, message
    assert "starts_or (2022-03-27) must come after starts (2022-03-28)" in message


def test_a_reminders_forms_must_be_known_and_choose_among_past_senders(
    tmp_path: Path, template_names: list[str]
) -> None:
    """`forms` narrows a past_senders reminder to proposals of those forms: a form no definition has, or
    forms on a reminder to the proposals' own people, is refused on its line."""
    text = (REPO / "schedules" / "stages-2022-2023.toml").read_text(encoding="utf-8")
    assert text.count('forms = ["projet_collectif"]') == 1
    line = text[: text.index('forms = ["projet_collectif"]')].count("\n") + 1
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "stages.toml").write_text(text.replace('forms = ["projet_collectif"]', 'forms = ["projet_colectif"]'),
                                        encoding="utf-8")
    with pytest.raises(CalendarError) as caught:
        load_calendars(folder, template_names, ["offre_stage", "projet_collectif"])
    assert f"stages.toml, line {line}: " in str(caught.value)
    assert 'no form definition "projet_colectif" (forms: offre_stage, projet_collectif)' in str(caught.value)
    projects = PROJECTS.read_text(encoding="utf-8")
    (folder / "stages.toml").unlink()
    (folder / "projets.toml").write_text(projects.replace('id = "veille-teams"', 'id = "veille-teams"\nforms = ["x"]'),
                                         encoding="utf-8")
    assert "forms chooses among past_senders" in refusal(folder, template_names)


def test_a_syntax_error_is_refused_with_its_line(tmp_path: Path, template_names: list[str]) -> None:
    """Broken TOML (a missing quote) is reported with the line tomllib found it on."""
    folder, line = bad_calendar(
        tmp_path, 'title = "Projets collectifs 2025-2026"', 'title = "Projets collectifs'
    )
    message = refusal(folder, template_names)
    assert f", line {line}: not valid TOML" in message


def test_two_calendars_taking_the_same_form_at_once_are_refused(
    tmp_path: Path, template_names: list[str]
) -> None:
    """A proposal must belong to one campaign: overlapping calendars for one form are refused."""
    folder = tmp_path / "schedules"
    folder.mkdir()
    text = PROJECTS.read_text(encoding="utf-8")
    (folder / "a.toml").write_text(text, encoding="utf-8")
    (folder / "b.toml").write_text(
        text.replace('id = "projet-collectif-2025-2026"', 'id = "copie"'), encoding="utf-8"
    )
    message = refusal(folder, template_names)
    assert "overlaps" in message and "b.toml, line" in message


def test_a_missing_folder_is_refused_plainly(tmp_path: Path) -> None:
    """A wrong `[campaigns] schedules` path is reported as such."""
    with pytest.raises(CalendarError, match="calendar folder not found"):
        load_calendars(tmp_path / "nowhere")


def test_a_calendar_loads_without_template_names(tmp_path: Path) -> None:
    """Without the template list (e.g. a quick check), templates are not checked but the rest is."""
    calendar = load_calendar(PROJECTS)
    assert calendar.source == PROJECTS
    assert len(calendar.reminders) >= 10
