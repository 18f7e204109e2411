"""Write one rendered acknowledgement of each kind to examples/answers/ (run from anywhere).

    .venv/bin/python examples/render_answers.py

Each kind gives `<name>.eml` (the mail exactly as it would be sent) and `<name>.txt` (its
headers decoded, then the text and HTML parts, for proof-reading). The data is the made-up
proposal of templates/_exemple.json, the dates those of schedules/projet-collectif-2025-2026.toml (and of
schedules/stages-2022-2023.toml for the stage offer).
Run it again after editing a template and review the diff.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailflow.campaign.calendar_file import load_calendar  # noqa: E402
from mailflow.mail.compose import compose, preview  # noqa: E402
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
        context = mail_context(
            proposal=example["proposal"], label=forms[form].label, campaign=load_calendar(calendar_file),
            original=original,
            unreadable=example["unreadable"], slot=example["slot"],
        )
        sent_at = datetime.fromisoformat(original["received_at"]) + timedelta(minutes=1)
        mail = compose(
            templates.render(name, context), sender=SENDER, to=[original["sender"]],
            in_reply_to=original["message_id"], message_id_domain=DOMAIN, now=sent_at,
        )
        short = name.rpartition("/")[2]
        mail.replace_header("Message-ID", f"<exemple.{short}@{DOMAIN}>")
        (OUT / f"{short}.eml").write_bytes(mail.as_bytes())
        (OUT / f"{short}.txt").write_text(preview(mail), encoding="utf-8")
        print(f"{OUT.relative_to(REPO)}/{short}.eml  {mail['Subject']}")


if __name__ == "__main__":
    main()
