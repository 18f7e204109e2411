"""run_due on a database: each reminder once per recipient, missed ones reported, slots given once, jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from icalendar import Calendar as ICalendar
from sqlalchemy import select

from mailflow.campaign.due import run_due
from mailflow.campaign.upcoming import upcoming
from mailflow.cli import cli
from mailflow.clock import ManualClock
from mailflow.context import App
from mailflow.db.models import Reminder, Slot
from mailflow.service.app import build_app
from mailflow.service.jobs import reschedule
from tests.campaign_factories import add_proposal, outbox, set_status
from tests.factories import collectivity, make_app

PARIS_0900_13_JUNE = datetime(2025, 6, 13, 7, 0, tzinfo=UTC)


def app_at(tmp_path: Path, when: datetime) -> App:
    return make_app(tmp_path, clock=ManualClock(when))


def test_a_reminder_goes_once_per_recipient_however_often_it_runs(tmp_path: Path) -> None:
    """Calling run_due again, or from a second process on the same database, queues nothing more."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    add_proposal(
        app, datetime(2025, 6, 5, tzinfo=UTC), status="incomplete", missing=("collectivity.hr_email",)
    )
    app.clock.set(PARIS_0900_13_JUNE)
    assert run_due(app) >= 1
    second = build_app(app.settings, clock=app.clock)
    run_due(second)
    run_due(app)
    reminders = outbox(app, "collectivite/rappel-incomplet")
    assert len(reminders) == 1
    assert reminders[0].created_at == PARIS_0900_13_JUNE
    mail = message_from_bytes(reminders[0].raw, policy=policy.default)
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "[PC-2025-" in mail["Subject"] and "vendredi 20 juin 2025" in " ".join(mail["Subject"].split())
    text = mail.get_body(("plain",)).get_content()
    assert "Courriel du contact RH" in text


def test_nothing_is_sent_before_its_time(tmp_path: Path) -> None:
    """One minute before 09:00 Paris on 13 June the incomplete reminder is not queued yet."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    add_proposal(
        app, datetime(2025, 6, 5, tzinfo=UTC), status="incomplete", missing=("collectivity.hr_email",)
    )
    app.clock.set(PARIS_0900_13_JUNE - timedelta(minutes=1))
    run_due(app)
    assert outbox(app, "collectivite/rappel") == []


def test_reminders_missed_while_down_are_sent_late_within_grace(tmp_path: Path) -> None:
    """Down on 13 June, back on 15 June (within 72 h): the reminder is sent on return."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    add_proposal(
        app, datetime(2025, 6, 5, tzinfo=UTC), status="incomplete", missing=("collectivity.hr_email",)
    )
    back = PARIS_0900_13_JUNE + timedelta(hours=50)
    app.clock.set(back)
    run_due(app)
    [mail] = outbox(app, "collectivite/rappel-incomplet")
    assert mail.created_at == back


def test_reminders_missed_beyond_grace_are_recorded_and_shown_to_staff(tmp_path: Path) -> None:
    """Back after the grace period: not sent, recorded as missed, and the digest says so."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    add_proposal(
        app, datetime(2025, 6, 5, tzinfo=UTC), status="incomplete", missing=("collectivity.hr_email",)
    )
    app.clock.set(datetime(2025, 6, 17, 6, 0, tzinfo=UTC))  # Tuesday 08:00 Paris, after the 07:30 digest time
    run_due(app)
    assert outbox(app, "collectivite/rappel-incomplet") == []
    with app.sessions() as session:
        [row] = session.scalars(select(Reminder)).all()
    assert row.status == "missed"
    [digest] = outbox(app, "staff/digest")
    text = message_from_bytes(digest.raw, policy=policy.default).get_body(("plain",)).get_content()
    text = text.replace("\u00a0", " ")
    assert "RAPPELS NON ENVOYÉS (1)" in text
    assert "Relance : proposition incomplète — PC-" in text


def test_reminders_due_before_the_service_ever_ran_are_neither_sent_nor_missed(tmp_path: Path) -> None:
    """Installed in September, mailflow does not send nor report June's reminders (nor 2022's)."""
    app = app_at(tmp_path, datetime(2025, 9, 1, tzinfo=UTC))
    add_proposal(
        app, datetime(2025, 6, 5, tzinfo=UTC), status="incomplete", missing=("collectivity.hr_email",)
    )
    run_due(app)
    with app.sessions() as session:
        assert session.scalars(select(Reminder)).all() == []
    assert outbox(app, "collectivite/") == []


def test_slot_mail_carries_an_ics_and_each_proposal_its_own_slot(tmp_path: Path) -> None:
    """On 4 August each complete proposal gets its own Teams slot, mailed with an .ics to sender and tutor."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    refs = [add_proposal(app, datetime(2025, 6, 2 + n, tzinfo=UTC)) for n in range(3)]
    add_proposal(app, datetime(2025, 6, 9, tzinfo=UTC), status="incomplete", missing=("tutor.email",))
    app.clock.set(datetime(2025, 8, 4, 7, 0, tzinfo=UTC))
    run_due(app)
    run_due(app)
    mails = outbox(app, "collectivite/rappel-reunion-teams")
    assert len(mails) == 6  # 3 proposals x (sender, tutor)
    with app.sessions() as session:
        slots = session.scalars(select(Slot).where(Slot.kind == "teams")).all()
    assert len(slots) == 3 and len({s.starts_at for s in slots}) == 3
    starts = set()
    for row in mails:
        mail = message_from_bytes(row.raw, policy=policy.default)
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_content_type() == "text/calendar"
        event = ICalendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
        assert str(event["ATTENDEE"]) == f"mailto:{row.recipient}"
        starts.add((str(event["UID"]), event.decoded("DTSTART")))
        local = event.decoded("DTSTART").strftime("%-d %B").lower()
        assert local.startswith(("27", "28", "29"))
    assert len(starts) == 3  # sender and tutor of one proposal share its event
    assert {uid.split("@")[0].rsplit(".", 1)[1] for uid, _ in starts} == set(refs)


def test_staff_decisions_choose_the_mail_of_5_september(tmp_path: Path) -> None:
    """Accepted proposals get « retenue » (sender, tutor), rejected ones « non retenue », others nothing."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    values = [collectivity(900 + n) for n in range(3)]
    refs = [add_proposal(app, datetime(2025, 6, 2 + n, tzinfo=UTC), values=v) for n, v in enumerate(values)]
    app.clock.set(datetime(2025, 9, 4, 15, tzinfo=UTC))
    set_status(app, refs[0], "accepted")
    set_status(app, refs[1], "rejected")
    app.clock.set(datetime(2025, 9, 5, 12, 0, tzinfo=UTC))
    run_due(app)
    chosen = {(m.kind, m.recipient) for m in outbox(app, "collectivite/rappel-equipe")}
    assert chosen == {
        ("collectivite/rappel-equipe-retenue", values[0]["sender"]),
        ("collectivite/rappel-equipe-retenue", values[0]["tutor_email"]),
        ("collectivite/rappel-equipe-non-retenue", values[1]["sender"]),
    }


def test_a_late_decision_is_still_mailed_before_the_tutor_calls(tmp_path: Path) -> None:
    """A proposal accepted on 8 September still gets « retenue » and its tutor call slot that day."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    values = collectivity(950)
    ref = add_proposal(app, datetime(2025, 6, 2, tzinfo=UTC), values=values)
    app.clock.set(datetime(2025, 9, 8, 9, 0, tzinfo=UTC))
    run_due(app)
    assert outbox(app, "collectivite/rappel-equipe") == []
    set_status(app, ref, "accepted")
    app.clock.set(datetime(2025, 9, 8, 9, 5, tzinfo=UTC))
    run_due(app)
    kinds = sorted(m.kind for m in outbox(app) if m.kind != "staff/digest")
    assert kinds == [
        "collectivite/rappel-equipe-retenue",
        "collectivite/rappel-equipe-retenue",
        "tuteur/appel-tuteur",
    ]


def test_upcoming_reads_like_the_seed_timetable_on_an_empty_database(tmp_path: Path) -> None:
    """With no proposal yet, `schedule list` shows every step of the campaign once, with its audience."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    items = upcoming(app, app.clock.now(), days=214, campaign="projet-collectif-2025-2026")
    steps = [(i.reminder, i.local.date().isoformat() if i.local else "") for i in items]
    assert steps[0] == ("relance-incomplet", "2025-06-13")
    assert ("veille-teams", "2025-08-26") in steps
    assert ("equipe-retenue", "2025-09-05") in steps
    assert ("appel-tuteur", "2025-09-05") in steps
    assert ("grille-evaluation", "2025-12-19") in steps
    assert all(i.recipient is None and i.audience for i in items)
    assert "→ le tuteur (propositions dont le statut est retenue)" in str(items[-1])


def test_schedule_list_reads_like_the_timetable_in_words(tmp_path: Path) -> None:
    """`mailflow schedule list`: the mail's date, the event's date beside it, what it announces and to whom."""
    app = app_at(tmp_path, datetime(2025, 7, 1, tzinfo=UTC))
    values = collectivity(961)
    ref = add_proposal(app, datetime(2025, 6, 2, tzinfo=UTC), values=values)
    result = CliRunner().invoke(cli, ["--config", str(app.settings.source), "schedule", "list",
                                      "--now", "2025-08-01T09:00+02:00", "--days", "40"])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if values["tutor_email"] in x and "Invitation" in x]
    assert line.startswith("2025-08-04 09:00 lundi 4\u00a0août ")
    assert "(le mercredi 27\u00a0août, 9\u00a0h\u00a030)" in line
    assert line.endswith(
        f"Invitation à la réunion Teams du mercredi 27\u00a0août, 9\u00a0h\u00a030 — {values['name']}"
        f" → {values['tutor_email']} [{ref}]"
    )
    assert "collectivite/" not in result.output


def test_upcoming_names_each_recipient_once_proposals_exist(tmp_path: Path) -> None:
    """With a complete proposal, the August slot mail is listed for its sender and its tutor, at its time."""
    app = app_at(tmp_path, datetime(2025, 7, 1, tzinfo=UTC))
    values = collectivity(960)
    ref = add_proposal(app, datetime(2025, 6, 2, tzinfo=UTC), values=values)
    items = [i for i in upcoming(app, app.clock.now(), days=40) if i.reminder == "invitation-teams"]
    assert {(i.recipient, i.reference) for i in items} == {
        (values["sender"], ref),
        (values["tutor_email"], ref),
    }
    assert all(i.at == datetime(2025, 8, 4, 7, 0, tzinfo=UTC) for i in items)


def test_daemon_jobs_follow_the_calendars(tmp_path: Path) -> None:
    """The APScheduler jobs: the digest on working days at digest_time, and one job per coming due time."""
    app = app_at(tmp_path, datetime(2025, 8, 3, 10, 0, tzinfo=UTC))
    add_proposal(app, datetime(2025, 6, 2, tzinfo=UTC))
    scheduler = BackgroundScheduler(timezone=app.timezone)
    scheduler.start(paused=True)
    try:
        scheduler.mailflow_job = lambda: None  # type: ignore[attr-defined]
        reschedule(app, scheduler)
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert "due:2025-08-04T07:00:00+00:00" in jobs
        digest = jobs["digest"].trigger
        assert str(digest.timezone) == "Europe/Paris"
        assert (
            "day_of_week='mon-fri'" in str(digest)
            and "hour='7'" in str(digest)
            and "minute='30'" in str(digest)
        )
        assert "resync" in jobs
        app.clock.set(datetime(2025, 8, 5, 10, 0, tzinfo=UTC))
        reschedule(app, scheduler)
        assert "due:2025-08-04T07:00:00+00:00" not in {job.id for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def test_every_reminder_template_renders_for_a_preview(tmp_path: Path) -> None:
    """`templates render` of each reminder template gives a French mail with its dates, slot and .ics."""
    from mailflow.service.previews import preview_reminder

    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    templates = {r.template for c in app.calendars.values() for r in c.reminders}
    assert len(templates) == 13
    for template in sorted(templates):
        mail = preview_reminder(app, template)
        text = " ".join(mail.get_body(("plain",)).get_content().split())
        assert text.startswith(("Madame, Monsieur,", "Madame,", "Madame la Directrice générale adjointe,")), template
        assert "Le service des stages de l'INET" in text
        assert mail["Auto-Submitted"] == "auto-generated"
    teams = preview_reminder(app, "collectivite/rappel-reunion-teams")
    assert "le mercredi 27 août 2025, de 9 h 30 à 10 h." in " ".join(teams.get_body(("plain",)).get_content().split())
    assert [p.get_filename() for p in teams.iter_attachments()] == ["invitation.ics"]
    offers = preview_reminder(app, "collectivite/rappel-offres-stage").get_body(("plain",)).get_content()
    offers = " ".join(offers.split())
    assert "Dépôt des offres jusqu'au lundi 29 novembre 2021." in offers
    projects = preview_reminder(app, "collectivite/rappel-projets-collectifs")
    assert "propositions attendues jusqu'au vendredi 24 juin 2022" in " ".join(projects["Subject"].split())
    text = " ".join(projects.get_body(("plain",)).get_content().split())
    assert "une équipe pluridisciplinaire de 4 élèves" in text and "4 000 €" in text


def test_the_daemon_scheduler_catches_up_at_start(tmp_path: Path) -> None:
    """Started, the scheduler runs the pass once at once (catch-up after a stop), then on its jobs."""
    import threading

    from mailflow.service.jobs import start_scheduler

    app = app_at(tmp_path, datetime(2025, 8, 3, 10, 0, tzinfo=UTC))
    ran = threading.Event()
    scheduler = start_scheduler(app, job=ran.set)
    try:
        assert ran.wait(10), "the catch-up pass did not run"
        assert {"digest", "resync"} <= {job.id for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def test_the_stage_calendar_lists_its_offer_calls_as_a_timetable(tmp_path: Path) -> None:
    """`schedule list --now 2021-10-01` shows the 2022-2023 offer calls to earlier collectivités."""
    app = app_at(tmp_path, datetime(2021, 10, 1, tzinfo=UTC))
    items = upcoming(app, app.clock.now(), days=300, campaign="stages-2022-2023")
    assert [(i.reminder, i.local.date().isoformat() if i.local else "") for i in items][0] == (
        "offres-observation-administrateurs",
        "2021-11-08",
    )
    assert all("campagnes précédentes" in i.who for i in items)


def test_two_processes_at_once_never_send_a_reminder_twice(tmp_path: Path, db_url: str) -> None:
    """Two services on one database (SQLite, PostgreSQL) racing on 4 August: one slot and one mail each."""
    import threading

    clock = ManualClock(datetime(2025, 6, 1, tzinfo=UTC))
    first = make_app(tmp_path / "one", clock=clock, database_url=db_url)
    second = make_app(tmp_path / "two", clock=clock, database_url=db_url)
    run_due(first)
    refs = [add_proposal(first, datetime(2025, 6, 2, n, tzinfo=UTC)) for n in range(8)]
    clock.set(datetime(2025, 8, 4, 7, 0, tzinfo=UTC))
    errors: list[BaseException] = []

    def work(app: App) -> None:
        try:
            for _ in range(3):
                run_due(app)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    run_due(first)
    assert errors == []
    mails = outbox(first, "collectivite/rappel-reunion-teams")
    assert len(mails) == 16 and len({(m.recipient, m.cause) for m in mails}) == 16
    with first.sessions() as session:
        slots = session.scalars(select(Slot)).all()
    assert len(slots) == len(refs) == len({s.starts_at for s in slots})
    first.engine.dispose()
    second.engine.dispose()


def test_an_unusable_address_is_reported_not_retried_forever(tmp_path: Path) -> None:
    """A tutor address that is no address: the sender still gets the mail; staff see the failure once."""
    app = app_at(tmp_path, datetime(2025, 6, 1, tzinfo=UTC))
    run_due(app)
    values = collectivity(970)
    values["tutor_email"] = "dga chez ville-test.example.fr"
    add_proposal(app, datetime(2025, 6, 2, tzinfo=UTC), values=values)
    app.clock.set(datetime(2025, 8, 4, 7, 0, tzinfo=UTC))
    run_due(app)
    run_due(app)
    assert [m.recipient for m in outbox(app, "collectivite/rappel-reunion-teams")] == [values["sender"]]
    with app.sessions() as session:
        statuses = sorted(r.status for r in session.scalars(select(Reminder)))
    assert statuses == ["invalid", "queued"]
    [digest] = outbox(app, "staff/digest")[-1:]
    text = message_from_bytes(digest.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "RAPPELS NON ENVOYÉS (1)" in text and "adresse du destinataire invalide" in text
