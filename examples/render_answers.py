"""Write one rendered acknowledgement of each kind, and one mail of each reminder, to examples/answers/.

    .venv/bin/python examples/render_answers.py

Each kind gives `<name>.eml` (the mail exactly as it would be sent) and `<name>.txt` (its
headers decoded, then the text and HTML parts, for proof-reading). The data is the made-up
proposal of templates/_exemple.json, the dates those of schedules/projet-collectif-2025-2026.toml (and of
schedules/stages-2022-2023.toml for the stage offer);
each reminder is rendered when the schedule sends it (the day before the slot, at its time, for a
reminder relative to each proposal's slot), to its first audience (examples/answers/rappels/).
Run it again after editing a template and review the diff.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailflow.campaign.calendar_file import load_calendar  # noqa: E402
from mailflow.campaign.reminders import compose_reminder  # noqa: E402
from mailflow.campaign.rules import Occurrence, Target, due_on, reminder_due, slot_times  # noqa: E402
from mailflow.mail.compose import Composer, compose, preview  # noqa: E402
from mailflow.mail.template_context import ACKNOWLEDGEMENTS, mail_context, specimen  # noqa: E402
from mailflow.mail.templates import Templates  # noqa: E402
from mailflow.pipeline.forms.definition import load_form_definitions  # noqa: E402

OUT = REPO / "examples" / "answers"
CALENDAR = REPO / "schedules" / "projet-collectif-2025-2026.toml"
OFFERS = ("collectivite/accuse-reception-offre", REPO / "schedules" / "stages-2022-2023.toml", "offre_stage")
SENDER = "INET - Stages <stages.inet@cnfpt.fr>"
DOMAIN = "stages.inet.cnfpt.fr"


def main() -> None:
    """Render, compose and write the six acknowledgements of projets collectifs and the stage offer's."""
    templates = Templates(REPO / "templates")
    forms = load_form_definitions()
    OUT.mkdir(parents=True, exist_ok=True)
    kinds = [(name, CALENDAR, "projet_collectif") for name in ACKNOWLEDGEMENTS] + [OFFERS]
    for name, calendar_file, form in kinds:
        example = specimen(templates, name)
        original = example["original"]
        if example["proposal"] is not None:
            # The mail answered is the one the proposal was read from: one reception date for both.
            original = {**original, "received_at": example["proposal"]["received_at"]}
        sent_at = datetime.fromisoformat(original["received_at"]) + timedelta(minutes=1)
        context = mail_context(
            proposal=example["proposal"], label=forms[form].label, campaign=load_calendar(calendar_file),
            original=original,
            unreadable=example["unreadable"], slot=example["slot"], now=sent_at, recipient=original["sender"],
        )
        mail = compose(
            templates.render(name, context), sender=SENDER, to=[original["sender"]],
            in_reply_to=original["message_id"], message_id_domain=DOMAIN, now=sent_at,
        )
        short = name.rpartition("/")[2]
        mail.replace_header("Message-ID", f"<exemple.{short}@{DOMAIN}>")
        (OUT / f"{short}.eml").write_bytes(mail.as_bytes())
        (OUT / f"{short}.txt").write_text(preview(mail), encoding="utf-8")
        print(f"{OUT.relative_to(REPO)}/{short}.eml  {mail['Subject']}")


def reminders() -> None:
    """Render each reminder of the campaign, on its due day, about the example proposal."""
    templates = Templates(REPO / "templates")
    calendar = load_calendar(CALENDAR)
    # What compose_reminder reads of the application, without a database: a preview, nothing recorded.
    form = load_form_definitions()["projet_collectif"]
    app = SimpleNamespace(calendars={calendar.id: calendar}, form=form, templates=templates,
                          sender_address="stages.inet@cnfpt.fr", message_id_domain=DOMAIN,
                          compose=Composer(sender=SENDER, message_id_domain=DOMAIN))
    out = OUT / "rappels"
    out.mkdir(parents=True, exist_ok=True)
    for reminder in calendar.reminders:
        example = specimen(templates, reminder.template)["proposal"]
        example["status"] = (reminder.statuses or ("complete",))[0]
        slot = slot_times(calendar, calendar.slot_rule(reminder.slot))[1] if reminder.slot else None
        due = reminder_due(calendar, reminder)
        if due is None:  # relative to the proposal's slot: when the scheduler sends it (rules.occurrences)
            assert slot is not None
            due = due_on(calendar, reminder, slot[0].astimezone(calendar.timezone).date())
        addresses = {"sender": example["sender"], "tutor": example["tutor"]["email"],
                     "hr": example["collectivity"]["hr_email"], "dgs": example["dgs"]["email"]}
        target = Target(0, example["reference"], example["status"], due, due, addresses)
        recipient = addresses.get(reminder.audience[0]) or "stages.inet@cnfpt.fr"
        occurrence = Occurrence(calendar.id, reminder, due, recipient, target, slot)
        mail = compose_reminder(app, occurrence, example, due, [], rejected="students")  # type: ignore[arg-type]
        mail.replace_header("Message-ID", f"<exemple.{reminder.id}@{DOMAIN}>")
        (out / f"{reminder.id}.eml").write_bytes(mail.as_bytes())
        (out / f"{reminder.id}.txt").write_text(preview(mail), encoding="utf-8")
        print(f"{out.relative_to(REPO)}/{reminder.id}.eml  {mail['Subject']}")


if __name__ == "__main__":
    main()
    reminders()
