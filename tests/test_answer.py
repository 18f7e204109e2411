"""Templates and composition of the acknowledgements: French text, dates from the calendar, safe headers."""

from __future__ import annotations

import copy
import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailflow.errors import TemplateError
from mailflow.mail.compose import AddressError, RenderedMail, compose
from mailflow.mail.template_context import ACKNOWLEDGEMENTS, acknowledgement_template, mail_context, specimen
from mailflow.mail.templates import Templates

NOW = datetime(2025, 6, 10, 7, 45, tzinfo=UTC)
LABELS = {
    "collectivity.hr_email": "Courriel du contact RH (impératif)",
    "collectivity.siret": "N° de SIRET de la collectivité",
    "tutor.role": "Fonction du tuteur ou de la tutrice (DGS ou DGA)",
}


@dataclass
class FakeCampaign:
    """What the templates use of a campaign calendar: named dates and the contribution."""

    dates: dict[str, Any] = field(default_factory=lambda: {
        "deadline": date(2025, 6, 20),
        "teams_meetings": [date(2025, 8, 27), date(2025, 8, 28), date(2025, 8, 29)],
        "teams_formed": date(2025, 9, 5),
        "tutor_calls": date(2025, 9, 11),
        "project_start": date(2025, 10, 13),
        "project_end": date(2025, 12, 19),
    })
    contribution_eur: int = 4000


def next_year() -> FakeCampaign:
    """The same calendar one year later: a template that hard-codes a date would still say 2025."""
    campaign = FakeCampaign()
    for key, value in campaign.dates.items():
        if isinstance(value, list):
            campaign.dates[key] = [d.replace(year=d.year + 1) for d in value]
        else:
            campaign.dates[key] = value.replace(year=value.year + 1)
    campaign.contribution_eur = 4500
    return campaign


def record(**changes: Any) -> dict[str, Any]:
    """An exported proposal (per proposal.schema.json), complete unless changed."""
    base = {
        "reference": "PC-2025-0007", "form": "projet_collectif", "campaign": "projet-collectif-2025-2026",
        "status": "complete", "version": 1, "supersedes": None, "missing": [], "problems": [], "flags": [],
        "received_at": "2025-06-10T07:44:02+00:00", "sender": "rh@saint-test.fr",
        "collectivity": {"name": "Département de la Drôme", "siret": "22260001700016",
                         "address": "Valence", "hosting_address": "Valence", "hr_contact": "Mme Faure",
                         "hr_email": "rh@saint-test.fr"},
        "dgs": {"last_name": "ROCHE", "first_name": "Bertrand", "email": "dgs@saint-test.fr", "phone": None},
        "tutor": {"last_name": "MERCIER", "first_name": "Isabelle", "role": "Directrice générale adjointe",
                  "email": "dga@saint-test.fr", "phone": None},
        "mission": {"title": "Préfigurer un service public départemental de la donnée", "context": "c",
                    "stakes": "s", "objectives": "o", "cross_disciplinary_value": "v"},
        "logistics": {"accommodation": None, "practical_notes": None, "driving_licence_required": None,
                      "public_transport": None},
        "source": {"kind": "docx", "filename": "fiche.docx", "message_id": "<m1@saint-test.fr>"},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def context(proposal: dict[str, Any] | None = None, campaign: Any = None, **kwargs: Any) -> dict[str, Any]:
    """The full context the pipeline gives a collectivité template."""
    return mail_context(
        proposal=proposal if proposal is not None else record(),
        label=lambda path: LABELS[path],
        campaign=campaign if campaign is not None else FakeCampaign(),
        original={"subject": "Proposition projet collectif", "message_id": "<m1@saint-test.fr>",
                  "sender": "rh@saint-test.fr", "received_at": datetime(2025, 6, 10, 7, 44, 2, tzinfo=UTC)},
        unreadable=kwargs.pop("unreadable", [{"filename": "fiche.pdf", "reason": "document numérisé"}]),
        **kwargs,
    )


def incomplete() -> dict[str, Any]:
    return record(
        status="incomplete", missing=["collectivity.hr_email"],
        problems=["collectivity.siret: numéro SIRET invalide (clé de contrôle)",
                  "tutor.role: le projet doit être porté par le/la DGS ou un/une DGA"],
    )


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


def as_mail(rendered: RenderedMail, **kwargs: Any) -> EmailMessage:
    """Compose, serialise and parse back, as a receiving client would see the mail."""
    options = {"sender": "INET - Stages <stages.inet@cnfpt.fr>", "to": ["rh@saint-test.fr"],
               "message_id_domain": "cnfpt.fr", "now": NOW} | kwargs
    raw = compose(rendered, **options).as_bytes()
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_every_acknowledgement_renders_with_a_full_context(templates: Templates) -> None:
    """Each of the six acknowledgements exists in the shipped templates and renders subject, text and HTML."""
    assert set(ACKNOWLEDGEMENTS) <= set(templates.names())
    for name in ACKNOWLEDGEMENTS:
        for proposal in (record(), incomplete()):
            rendered = templates.render(name, context(proposal))
            assert rendered.subject and "\n" not in rendered.subject, name
            assert "Le service des stages de l'INET" in rendered.text, name
            assert "Le service des stages de l'INET" in html.unescape(rendered.html), name
            assert rendered.html.lstrip().startswith("<!DOCTYPE html>"), name


def test_every_shipped_template_name_has_its_three_parts(templates: Templates) -> None:
    """Every template name listed has a subject, a text and an HTML file, and partials are not listed."""
    names = templates.names()
    assert names
    for name in names:
        assert not Path(name).name.startswith("_")
        for suffix in (".subject.j2", ".txt.j2", ".html.j2"):
            assert templates.env.loader is not None
            templates.env.get_template(name + suffix)


def test_mails_about_no_proposal_render_without_one(templates: Templates) -> None:
    """Question received and unreadable document render when no proposal was filed, and without a campaign."""
    for name in ("collectivite/question-recue", "collectivite/document-illisible"):
        for campaign in (FakeCampaign(), None):
            ctx = context()
            ctx["proposal"], ctx["campaign"] = None, campaign
            rendered = templates.render(name, ctx)
            assert "PC-2025" not in rendered.subject
            assert "Madame, Monsieur," in rendered.text


def test_acknowledgements_render_without_a_campaign(templates: Templates) -> None:
    """A proposal filed when no campaign accepts proposals still gets a readable acknowledgement."""
    for name in ACKNOWLEDGEMENTS:
        ctx = context()
        ctx["campaign"] = None
        assert "PC-2025-0007" in templates.render(name, ctx).text or name.endswith(("illisible", "recue"))


def test_complete_acknowledgement_summarises_and_gives_the_dates(templates: Templates) -> None:
    """The complete acknowledgement quotes what was read and gives every next step with its French date."""
    rendered = templates.render("collectivite/accuse-reception", context())
    text = flat(rendered.text)
    assert rendered.subject == "[PC-2025-0007] Accusé de réception de votre proposition de projet collectif"
    assert "Département de la Drôme (SIRET 222\u00a0600\u00a0017\u00a000016)" in rendered.text
    assert "Bertrand ROCHE" in text
    assert "Isabelle MERCIER, Directrice générale adjointe" in text
    assert "Préfigurer un service public départemental de la donnée" in text
    assert "reçue le mardi 10 juin 2025 à 9 h 44" in text
    assert "avec les élèves, les mercredi 27, jeudi 28 et vendredi 29 août 2025" in text
    assert "courant août" in text
    assert "Le vendredi 5 septembre 2025" in text
    assert "Le jeudi 11 septembre 2025" in text
    assert "du lundi 13 octobre au vendredi 19 décembre 2025" in text
    assert "4\u202f000\u00a0€" in rendered.text
    assert "Ingrid VIBET" in text and "03 88 15 53 69" in text


def flat(text: str) -> str:
    """Text on one line with single spaces (non-breaking ones included), to search for phrases."""
    return " ".join(text.split())


def test_incomplete_acknowledgement_names_each_item_and_how_to_answer(templates: Templates) -> None:
    """Each missing or invalid field is named by the form's label, with the reason and how to send it back."""
    rendered = templates.render("collectivite/accuse-reception-incomplet", context(incomplete()))
    text = " ".join(rendered.text.split())
    assert rendered.subject.startswith("[PC-2025-0007] ")
    assert "« Courriel du contact RH (impératif) » : rubrique non renseignée" in text
    assert "« N° de SIRET de la collectivité » : numéro SIRET invalide (clé de contrôle)" in text
    assert "« Fonction du tuteur ou de la tutrice (DGS ou DGA) » : le projet doit être porté" in text
    assert "répondez simplement à ce courriel en conservant dans l'objet la référence [PC-2025-0007]" in text
    assert "joindre la fiche complétée et corrigée" in text
    assert "avant le vendredi 20 juin 2025" in text
    html = " ".join(rendered.html.split())
    assert "Courriel du contact RH (impératif)" in html
    assert "[PC-2025-0007]" in html


def test_new_version_names_the_version_it_replaces(templates: Templates) -> None:
    """The new-version mail says which reference it supersedes and whether anything is still missing."""
    complete = templates.render(
        "collectivite/nouvelle-version",
        context(record(reference="PC-2025-0009", version=2, supersedes="PC-2025-0003")),
    )
    text = " ".join(complete.text.split())
    assert "[PC-2025-0009]" in complete.subject
    assert "remplace la proposition enregistrée sous la référence PC-2025-0003" in text
    assert "(version 2)" in text
    assert "désormais complète" in text
    resubmitted = incomplete() | {"supersedes": "PC-2025-0003"}
    still = templates.render("collectivite/nouvelle-version", context(resubmitted))
    assert "à compléter" in still.subject
    assert "Courriel du contact RH (impératif)" in still.text


def test_late_proposal_gives_the_deadline_it_missed(templates: Templates) -> None:
    """The late acknowledgement states the deadline and that staff will decide; no next steps are promised."""
    rendered = templates.render(
        "collectivite/hors-delai", context(record(status="late", received_at="2025-06-23T08:12:40+00:00"))
    )
    text = " ".join(rendered.text.split())
    assert rendered.subject == "[PC-2025-0007] Proposition de projet collectif reçue après la date limite"
    assert "était fixée au vendredi 20 juin 2025" in text
    assert "reçue le lundi 23 juin 2025 à 10 h 12" in text
    assert "Les prochaines étapes" not in text


def test_unreadable_document_lists_files_and_working_formats(templates: Templates) -> None:
    """The unreadable-document mail names each file with the reason and lists the formats that work."""
    ctx = context(unreadable=[
        {"filename": "fiche scannée.pdf", "reason": "le PDF ne contient que des images"},
        {"filename": "fiche.doc", "reason": "l'ancien format Word n'est pas lu"},
    ])
    ctx["proposal"] = None
    text = " ".join(templates.render("collectivite/document-illisible", ctx).text.split())
    assert "- fiche scannée.pdf Le PDF ne contient que des images." in text
    assert "- fiche.doc L'ancien format Word n'est pas lu." in text
    assert "Word (.docx ou .doc) ou OpenDocument (.odt)" in text
    assert "(objet : « Proposition projet collectif »)" in text


def test_question_received_gives_the_calendar(templates: Templates) -> None:
    """The question acknowledgement says staff will answer and recalls the campaign's calendar."""
    ctx = context()
    ctx["proposal"] = None
    rendered = templates.render("collectivite/question-recue", ctx)
    text = " ".join(rendered.text.split())
    assert rendered.subject == "Accusé de réception de votre message – Proposition projet collectif"
    assert "qui vous répondra dans les meilleurs délais" in text
    assert "doivent nous parvenir avant le vendredi 20 juin 2025" in text
    assert "du lundi 13 octobre au vendredi 19 décembre 2025" in text


def test_no_template_hard_codes_a_campaign_date(templates: Templates) -> None:
    """With next year's calendar and a proposal of next year, no mail mentions 2025 or 4 000 €."""
    proposal = record(reference="PC-2026-0001", received_at="2026-06-10T07:44:02+00:00")
    for name in ACKNOWLEDGEMENTS:
        ctx = context(proposal, campaign=next_year())
        ctx["original"]["received_at"] = datetime(2026, 6, 10, 7, 44, tzinfo=UTC)
        ctx["original"]["message_id"] = "<m1@saint-test.fr>"
        rendered = templates.render(name, ctx)
        for part in (rendered.subject, rendered.text, rendered.html):
            assert "2025" not in part, name
            assert "4\u202f000" not in part, name
    text = templates.render("collectivite/accuse-reception", context(proposal, campaign=next_year())).text
    assert "4\u202f500\u00a0€" in text
    assert "avec les élèves, les jeudi 27, vendredi 28 et samedi 29 août 2026" in flat(text)


def test_missing_variable_fails_with_the_template_name(templates: Templates) -> None:
    """A variable absent from the context fails the render (StrictUndefined) and names the file."""
    ctx = context()
    del ctx["original"]
    with pytest.raises(TemplateError, match=r"collectivite/question-recue\.subject\.j2.*original"):
        templates.render("collectivite/question-recue", ctx)
    with pytest.raises(TemplateError, match="not found"):
        templates.render("collectivite/n-existe-pas", ctx)


def test_html_part_escapes_what_the_sender_wrote(templates: Templates) -> None:
    """Markup in a field appears as text in the HTML part and unchanged in the text part."""
    evil = record(mission={"title": "<script>alert('x')</script> & <b>gras</b>"})
    rendered = templates.render("collectivite/accuse-reception", context(evil))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;gras&lt;/b&gt;" in rendered.html
    assert "<script>alert('x')</script> & <b>gras</b>" in rendered.text


def test_staff_templates_folder_overrides_single_files(tmp_path: Path) -> None:
    """A file in the configured folder replaces the shipped one; the others still come from the package."""
    (tmp_path / "collectivite").mkdir()
    subject = tmp_path / "collectivite" / "question-recue.subject.j2"
    subject.write_text("Bien reçu : {{ original.subject }}\n")
    templates = Templates(tmp_path)
    ctx = context()
    ctx["proposal"] = None
    rendered = templates.render("collectivite/question-recue", ctx)
    assert rendered.subject == "Bien reçu\u00a0: Proposition projet collectif"
    assert "Madame, Monsieur," in rendered.text
    assert "collectivite/accuse-reception" in templates.names()


def test_french_date_filters(templates: Templates) -> None:
    """Dates read as in an administrative letter, in the campaign's time zone (mailflow/mail/french.py)."""
    f = templates.env.filters
    assert flat(f["date_fr"](date(2025, 6, 20))) == "vendredi 20 juin 2025"
    assert flat(f["date_fr"](date(2025, 10, 1))) == "mercredi 1er octobre 2025"
    assert flat(f["date_fr"]("2025-06-20T22:30:00+00:00")) == "samedi 21 juin 2025"
    assert flat(f["datetime_fr"](datetime(2025, 8, 27, 8, 0, tzinfo=UTC))) == "mercredi 27 août 2025 à 10 h"
    assert flat(f["datetime_fr"]("2025-12-01T08:05:00+00:00")) == "lundi 1er décembre 2025 à 9 h 05"
    assert flat(f["dates_fr"]([date(2025, 8, 27), date(2025, 8, 28), date(2025, 8, 29)])) == (
        "mercredi 27, jeudi 28 et vendredi 29 août 2025"
    )
    assert flat(f["dates_fr"]([date(2025, 8, 29), date(2025, 9, 1)])) == "vendredi 29 août et lundi 1er septembre 2025"
    assert flat(f["period_fr"](date(2025, 10, 13), date(2025, 12, 19))) == (
        "du lundi 13 octobre au vendredi 19 décembre 2025"
    )
    assert flat(f["period_fr"](date(2025, 12, 15), date(2026, 1, 9))) == (
        "du lundi 15 décembre 2025 au vendredi 9 janvier 2026"
    )
    two_days = {"starts": "2022-03-28", "starts_or": "2022-03-29", "ends": "2022-04-15", "ends_or": "2022-04-16"}
    assert flat(f["stage_period"](two_days)) == "du lundi 28 ou mardi 29 mars au vendredi 15 ou samedi 16 avril 2022"
    assert flat(f["stage_period"]({"starts": "2023-05-09", "ends": "2023-07-21", "ends_or": "2023-07-22"})) == (
        "du mardi 9 mai au vendredi 21 ou samedi 22 juillet 2023"
    )
    assert flat(f["stage_period"]({"starts": "2022-03-14", "ends": "2022-04-08"})) == (  # stored before starts_or
        "du lundi 14 mars au vendredi 8 avril 2022"
    )


def test_acknowledgement_choice() -> None:
    """Late beats new version, which beats incomplete, which beats complete."""
    assert acknowledgement_template(record()) == "collectivite/accuse-reception"
    assert acknowledgement_template(incomplete()) == "collectivite/accuse-reception-incomplet"
    resubmitted = record(version=2, supersedes="PC-2025-0003")
    assert acknowledgement_template(resubmitted) == "collectivite/nouvelle-version"
    assert acknowledgement_template(record(status="late")) == "collectivite/hors-delai"
    assert acknowledgement_template(incomplete(), late=True) == "collectivite/hors-delai"


def test_composed_mail_headers(templates: Templates) -> None:
    """From, To, Date, our Message-ID, threading and Auto-Submitted, as a receiving client reads them."""
    rendered = templates.render("collectivite/accuse-reception", context())
    mail = as_mail(rendered, in_reply_to="<m1@saint-test.fr>", references=["<m0@saint-test.fr>"])
    assert str(mail["From"]) == "INET - Stages <stages.inet@cnfpt.fr>"
    assert str(mail["To"]) == "rh@saint-test.fr"
    assert str(mail["Subject"]) == rendered.subject
    assert mail["Date"].datetime == NOW
    assert str(mail["Message-ID"]).startswith("<20250610074500.")
    assert str(mail["Message-ID"]).endswith("@cnfpt.fr>")
    assert str(mail["In-Reply-To"]) == "<m1@saint-test.fr>"
    assert str(mail["References"]) == "<m0@saint-test.fr> <m1@saint-test.fr>"
    assert str(mail["Auto-Submitted"]) == "auto-replied"
    assert str(mail["X-Auto-Response-Suppress"]) == "All"
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == rendered.text
    assert "Accusé de réception" in mail.get_body(("html",)).get_content()


def test_composed_mail_is_seven_bit_on_the_wire(templates: Templates) -> None:
    """Accents are encoded (RFC 2047 in headers, quoted-printable or base64 in bodies), CRLF line ends."""
    rendered = templates.render("collectivite/accuse-reception-incomplet", context(incomplete()))
    raw = compose(rendered, sender="INET – Stages <stages.inet@cnfpt.fr>", to=["rh@saint-test.fr"],
                  message_id_domain="cnfpt.fr", now=NOW).as_bytes()
    raw.decode("ascii")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_sender_text_cannot_inject_headers() -> None:
    """CR/LF and 10,000 characters in a subject, a display name or a Message-ID stay inside one header."""
    rendered = RenderedMail(
        subject="Accusé\r\nBcc: victim@evil.example\r\n\r\nbody" + "x" * 10_000,
        text="Bonjour\n", html="<p>Bonjour</p>",
    )
    mail = as_mail(
        rendered,
        to=["Jean\r\nDupont <rh@saint-test.fr>"],
        in_reply_to="<a@b>\r\nBcc: victim@evil.example",
        references=["<ok@x.fr>", "garbage\r\nX-Evil: 1"],
    )
    assert mail["Bcc"] is None and mail["X-Evil"] is None
    assert len(mail.get_all("Subject")) == 1
    assert str(mail["Subject"]).startswith("Accusé Bcc: victim@evil.example body")
    assert len(str(mail["Subject"])) <= 200
    assert str(mail["In-Reply-To"]) == "<a@b>"
    assert str(mail["References"]) == "<ok@x.fr> <a@b>"
    assert mail["To"].addresses[0].addr_spec == "rh@saint-test.fr"
    assert mail["To"].addresses[0].display_name == "Jean Dupont"
    assert mail.get_body(("plain",)).get_content().strip() == "Bonjour"


def test_invalid_recipient_is_refused() -> None:
    """A recipient that is not one valid address stops the composition with AddressError."""
    rendered = RenderedMail("s", "t\n", "<p>t</p>")
    for bad in ("pas une adresse", "a@b@c.fr", "un@exemple.fr, deux@exemple.fr", "",
                "Jean\r\nBcc: victim@evil.example <rh@saint-test.fr>"):
        with pytest.raises(AddressError):
            compose(rendered, sender="stages.inet@cnfpt.fr", to=[bad], message_id_domain="cnfpt.fr", now=NOW)
    with pytest.raises(AddressError):
        compose(rendered, sender="stages.inet@cnfpt.fr", to=[], message_id_domain="cnfpt.fr", now=NOW)


def test_attachments_make_a_mixed_mail() -> None:
    """An attachment (e.g. an .ics invitation) turns the mail into multipart/mixed with the file intact."""
    rendered = RenderedMail("Invitation", "Bonjour\n", "<p>Bonjour</p>")
    data = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    mail = as_mail(rendered, attachments=[("réunion.ics", "text/calendar", data)],
                   auto_submitted="auto-generated")
    assert mail.get_content_type() == "multipart/mixed"
    (part,) = list(mail.iter_attachments())
    assert part.get_filename() == "réunion.ics"
    assert part.get_content().encode() == data
    assert str(mail["Auto-Submitted"]) == "auto-generated"


def test_specimen_renders_every_acknowledgement(templates: Templates) -> None:
    """The made-up example (for previews and examples/) fits every acknowledgement."""
    for name in ACKNOWLEDGEMENTS:
        example = specimen(templates, name)
        ctx = mail_context(proposal=copy.deepcopy(example["proposal"]), label=lambda p: LABELS.get(p, p),
                           campaign=FakeCampaign(), original=example["original"],
                           unreadable=example["unreadable"], slot=example["slot"])
        assert "Madame, Monsieur," in templates.render(name, ctx).text


def test_literal_encoded_words_cannot_smuggle_a_header() -> None:
    """A subject or name holding `=?utf-8?b?…?=` that decodes to CR/LF stays text inside its own header."""
    smuggled = "=?utf-8?b?DQpCY2M6IHZpY3RpbUBldmlsLmV4YW1wbGU=?="  # "\r\nBcc: victim@evil.example"
    rendered = RenderedMail(subject=f"Re: {smuggled}", text="Bonjour\n", html="<p>Bonjour</p>")
    mail = as_mail(rendered, to=[f"{smuggled} <rh@saint-test.fr>"])
    assert mail["Bcc"] is None
    assert list(mail.keys()).count("Subject") == 1
    assert "\n" not in str(mail["Subject"]) and "\n" not in str(mail["To"])
    assert mail["To"].addresses[0].addr_spec == "rh@saint-test.fr"


def test_accented_subjects_keep_their_spaces_when_folded() -> None:
    """Long accented subjects are folded without losing the spaces between encoded words."""
    for subject in (
        "[PC-2025-0001] Proposition de projet collectif reçue après la date limite",
        "[PC-2025-0001] Accusé de réception – proposition de projet collectif à compléter",
        "Accusé de réception de votre message : " + "élève " * 25,
        "Document illisible : merci de nous renvoyer votre fiche de proposition",
    ):
        mail = as_mail(RenderedMail(subject.strip(), "t\n", "<p>t</p>"))
        assert str(mail["Subject"]) == subject.strip()
