"""Stage offers through the pipeline on Dovecot and aiosmtpd: filed as ST-…, checked, acknowledged once."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from mailflow.campaign.calendar_file import load_calendars
from mailflow.campaign.digest import build_digest
from mailflow.campaign.due import run_due
from mailflow.campaign.export import proposal_record
from mailflow.clock import ManualClock
from mailflow.db.models import Proposal
from mailflow.db.models import Reminder as ReminderRow
from mailflow.errors import CalendarError
from mailflow.pipeline.forms.definition import load_form_definitions
from mailflow.pipeline.offers.vocabulary import check_periods
from mailflow.pipeline.run import ingest_files, ingest_pass
from mailflow.service.app import build_app
from mailflow.settings import load_settings
from tests import web_helpers as web
from tests.factories import REPO, collectivity, form_docx, make_app, proposal_mail, run_mailflow, write_settings
from tests.offer_factories import DOCX_TYPE, NOVEMBER_2021, offer_mail, offer_values

PROCESSED = "mailflow/Traités"
CAMPAIGN = "stages-2022-2023"
NBSP = "\u00a0"


class Mailbox:
    """mailflow on the test Dovecot and SMTP server: deliver a mail at a date, run a pass, send."""

    def __init__(self, folder: Path, imap, smtp, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
        self.imap, self.smtp = imap, smtp
        self.app = make_app(folder, imap=imap, smtp=smtp, monkeypatch=monkeypatch,
                            clock=ManualClock(NOVEMBER_2021))

    def receive(self, message: EmailMessage, at: datetime = NOVEMBER_2021) -> None:
        self.imap.append(message.as_bytes(policy=policy.SMTP), internaldate=at)
        self.app.clock.set(at + timedelta(minutes=5))
        self.app.mailbox.close()  # a new session sees the mail just appended, as the daemon's IDLE would
        ingest_pass(self.app)
        self.app.outbox.drain()

    def records(self) -> list[dict]:
        with self.app.sessions() as session:
            return [proposal_record(p) for p in session.scalars(select(Proposal).order_by(Proposal.id))]

    def answers_to(self, address: str) -> list[EmailMessage]:
        return [BytesParser(policy=policy.default).parsebytes(m.raw)  # type: ignore[misc]
                for m in self.smtp.messages if address in m.rcpt_tos]


@pytest.fixture
def box(tmp_path: Path, imap_server, smtp, monkeypatch: pytest.MonkeyPatch) -> Mailbox:  # noqa: ANN001
    return Mailbox(tmp_path, imap_server, smtp, monkeypatch)


def text(message: EmailMessage) -> str:
    """The text part with line breaks folded to spaces (non-breaking spaces kept)."""
    return re.sub(r"[ \t\r\n\u00a0\u202f]+", " ", message.get_body(("plain",)).get_content())


@pytest.mark.parametrize("received", [datetime(2022, 7, 11, 9, 0, tzinfo=UTC),
                                      datetime(2022, 10, 17, 9, 0, tzinfo=UTC)])
def test_an_offer_for_a_stage_the_brochure_gives_no_deadline_for_is_never_late(
    box: Mailbox, received: datetime,
) -> None:
    """A stage de professionnalisation (April-July 2023) has no « dépôt des offres jusqu'au »: an offer sent
    after the projets collectifs' deadline (24 June 2022), or in the autumn, is filed in the 2022-2023
    campaign as on time and acknowledged as such, not told it came too late."""
    values = offer_values(4)
    box.receive(offer_mail(values, "un stage de professionnalisation à un élève administrateur territorial",
                           date=received), at=received)
    (offer,) = box.records()
    assert (offer["reference"], offer["campaign"]) == ("ST-2022-0001", CAMPAIGN)
    assert offer["status"] == "complete", (offer["missing"], offer["problems"], offer["to_check"])
    assert [(p["period"], p["late"]) for p in offer["placements"]] == [("professionnalisation-administrateurs", False)]
    (answer,) = box.answers_to(values["sender"])
    assert answer["Subject"] == "[ST-2022-0001] Accusé de réception de votre offre de stage"
    assert "date limite" not in text(answer)


def test_an_offer_for_a_stage_already_begun_is_late(box: Mailbox) -> None:
    """A stage without an offers deadline (ouverture, administrateurs: 6 February-3 March 2023) offered on
    3 April 2023, once it is over: late, and the acknowledgement says the stage has begun, where it was
    filed complete and on time."""
    values = offer_values(7)
    april = datetime(2023, 4, 3, 9, 0, tzinfo=UTC)
    box.receive(offer_mail(values, "un stage d'ouverture à un élève administrateur territorial", date=april),
                at=april)
    (offer,) = box.records()
    assert (offer["status"], offer["campaign"]) == ("late", CAMPAIGN)
    assert [(p["period"], p["late"]) for p in offer["placements"]] == [("ouverture-administrateurs", True)]
    assert any(str(flag).startswith("hors délai\u00a0: stage d'ouverture des élèves administrateurs territoriaux, "
                                    "stage commencé le 06/02/2023") for flag in offer["flags"]), offer["flags"]
    (answer,) = box.answers_to(values["sender"])
    assert answer["Subject"] == "[ST-2022-0001] Offre de stage reçue après la date limite"
    assert "Le stage d'ouverture des élèves administrateurs territoriaux a commencé le lundi 6 février 2023." in (
        text(answer))


def test_a_stage_with_two_possible_days_is_told_with_both(box: Mailbox) -> None:
    """The brochure's « du 28 ou 29 mars au 15 ou 16 avril 2022 » (observation, conservateurs de
    bibliothèques) is what the offer records and what its acknowledgement says: not a stage that would
    end on Saturday 16 April, against what the collectivité wrote."""
    values = {**offer_values(6), "tutor_role": "directrice de la médiathèque"}
    box.receive(offer_mail(values, "un stage d'observation à un élève conservateur de bibliothèques, "
                                   "du 28 mars au 15 avril 2022"))
    (offer,) = box.records()
    assert offer["status"] == "complete", (offer["missing"], offer["problems"], offer["to_check"])
    assert offer["stage"]["period"] == "du 28 ou 29 mars au 15 ou 16 avril 2022"
    assert [(p["period"], p["starts_or"], p["ends_or"]) for p in offer["placements"]] == [
        ("observation-conservateurs", "2022-03-29", "2022-04-16")]
    (answer,) = box.answers_to(values["sender"])
    assert "du lundi 28 ou mardi 29 mars au vendredi 15 ou samedi 16 avril 2022" in text(answer)


def test_an_offer_for_a_conservateur_du_patrimoine_goes_to_staff_not_to_the_bibliotheques(box: Mailbox) -> None:
    """The brochure: the stages of the élèves conservateurs du patrimoine are managed by the INP. An offer for
    one ("élève conservateur", the bibliothèques' words, inside it) is not filed as a stage for the
    conservateurs de bibliothèques: it is for staff to check, with that reason, and its acknowledgement
    names no stage of INET's."""
    values = offer_values(5)
    box.receive(offer_mail(values, "un stage d'observation à un élève conservateur territorial du patrimoine"))
    (offer,) = box.records()
    assert offer["placements"] == []
    assert offer["status"] == "to_check"
    assert any("conservateurs territoriaux du patrimoine" in item and "gérés par l'INP" in item
               for item in offer["to_check"]), offer["to_check"]
    (answer,) = box.answers_to(values["sender"])
    assert "bibliothèques" not in text(answer)


def test_letter_in_the_body_naming_the_stage_and_period_is_filed_and_acknowledged(box: Mailbox) -> None:
    """A letter naming an observation stage for an élève administrateur and its dates: ST-2022-0001, complete."""
    values = offer_values(1)
    box.receive(offer_mail(values, "un stage d'observation à un élève administrateur territorial, "
                                   "du 14 mars au 8 avril 2022"))
    (offer,) = box.records()
    assert (offer["reference"], offer["form"], offer["campaign"]) == ("ST-2022-0001", "offre_stage", CAMPAIGN)
    assert offer["status"] == "complete", (offer["missing"], offer["problems"], offer["to_check"])
    assert offer["collectivity"] == {"name": values["town"], "siret": values["siret"], "address": values["address"]}
    assert offer["tutor"]["role"] == "directeur général des services"
    assert offer["agreement"]["email"] == values["hr_email"]
    assert [p["period"] for p in offer["placements"]] == ["observation-administrateurs"]
    (answer,) = box.answers_to(values["sender"])
    assert answer["Subject"] == "[ST-2022-0001] Accusé de réception de votre offre de stage"
    body = text(answer)
    assert ("un ou une élève en stage d'observation, parmi les élèves administrateurs territoriaux, "
            "du lundi 14 mars au vendredi 8 avril 2022.") in body
    assert "lu dans votre offre :" in body
    assert len(box.imap.messages(PROCESSED)) == 1


def test_word_letter_for_two_cadres_files_one_offer_for_both(box: Mailbox) -> None:
    """A Word letter offering a stage thématique to an administrateur or a conservateur: one offer, two stages."""
    values = offer_values(2)
    box.receive(offer_mail(values, "un stage thématique à un élève administrateur territorial ou à un élève "
                                   "conservateur de bibliothèques", attached=True,
                           date=datetime(2022, 1, 10, 9, 0, tzinfo=UTC)),
                at=datetime(2022, 1, 10, 9, 0, tzinfo=UTC))
    (offer,) = box.records()
    assert offer["source"] == {"kind": "docx", "filename": "Courrier offre de stage.docx",
                               "message_id": offer["source"]["message_id"]}
    assert offer["status"] == "complete", (offer["missing"], offer["problems"], offer["to_check"])
    assert [(p["period"], p["cadre"]) for p in offer["placements"]] == [
        ("thematique", "élèves administrateurs territoriaux"),
        ("thematique", "élèves conservateurs territoriaux de bibliothèques"),
    ]
    (answer,) = box.answers_to(values["sender"])
    body = text(answer)
    assert "parmi les élèves administrateurs territoriaux, du lundi 30 mai au mercredi 13 juillet 2022" in body
    assert "parmi les élèves conservateurs territoriaux de bibliothèques, du lundi 30 mai" in body


def test_offer_after_its_stage_type_deadline_is_late(box: Mailbox) -> None:
    """An observation offer received on 10 December 2021 (offers until 29 November): late, and told so."""
    values = offer_values(3)
    december = datetime(2021, 12, 10, 9, 0, tzinfo=UTC)
    box.receive(offer_mail(values, "un stage d'observation à un élève administrateur territorial", date=december),
                at=december)
    (offer,) = box.records()
    assert (offer["status"], offer["campaign"], offer["placements"][0]["late"]) == ("late", CAMPAIGN, True)
    (answer,) = box.answers_to(values["sender"])
    assert answer["Subject"] == "[ST-2022-0001] Offre de stage reçue après la date limite"
    assert "étaient attendues jusqu'au lundi 29 novembre 2021" in text(answer)


def test_offer_for_a_stage_type_the_year_does_not_have_is_for_staff_to_check(box: Mailbox) -> None:
    """A stage de perfectionnement for an administrateur (only ingénieurs have one): filed "à vérifier"."""
    values = offer_values(4)
    box.receive(offer_mail(values, "un stage de perfectionnement à un élève administrateur territorial"))
    (offer,) = box.records()
    assert offer["status"] == "to_check"
    assert offer["placements"] == []
    assert any(item.startswith("stage.type: stage de perfectionnement non proposé aux élèves administrateurs")
               for item in offer["to_check"]), offer["to_check"]
    (answer,) = box.answers_to(values["sender"])
    body = text(answer)
    assert "Le service des stages vérifiera le type de stage" in body
    assert "à compléter" not in body


def test_observation_stage_whose_tutor_is_not_the_dgs_is_for_staff_to_check(box: Mailbox) -> None:
    """An observation stage tutored by a DGA: filed, and the tutor is "à vérifier" (the brochure says the DGS)."""
    values = {**offer_values(5), "tutor_role": "directrice générale adjointe des ressources", "tutor": "Mme Anne LEROY"}
    box.receive(offer_mail(values, "un stage d'observation à un élève administrateur territorial"))
    (offer,) = box.records()
    assert offer["status"] == "to_check"
    assert [item.partition(":")[0] for item in offer["to_check"]] == ["tutor.role"]
    assert len(box.answers_to(values["sender"])) == 1


def test_offers_from_one_collectivity_are_each_filed(box: Mailbox) -> None:
    """Two offers with the same SIRET are two offers (no one-per-collectivité rule), each acknowledged."""
    values = offer_values(6)
    box.receive(offer_mail(values, "un stage d'observation à un élève administrateur territorial"))
    later = NOVEMBER_2021 + timedelta(days=1)
    box.receive(offer_mail(values, "un stage thématique à un élève administrateur territorial", date=later,
                           title="Évaluation de la politique d'achats"), at=later)
    assert [(r["reference"], r["version"]) for r in box.records()] == [("ST-2022-0001", 1), ("ST-2022-0002", 1)]
    assert len(box.answers_to(values["sender"])) == 2


def test_mail_with_a_projet_collectif_form_and_a_stage_offer_files_both(box: Mailbox) -> None:
    """A projet collectif form attached to a letter offering a stage: both filed, each acknowledged once."""
    pc = collectivity(7)
    values = {**offer_values(7), "sender": pc["sender"]}
    message = offer_mail(values, "un stage d'observation à un élève administrateur territorial",
                         subject="Projet collectif et offre de stage")
    message.add_attachment(form_docx(pc), maintype="application", subtype=DOCX_TYPE.split("/")[1],
                           filename="Proposition projet collectif.docx")
    box.receive(message)
    pc_record, offer = sorted(box.records(), key=lambda r: r["form"], reverse=True)
    assert (pc_record["form"], pc_record["mission"]["title"]) == ("projet_collectif", pc["title"])
    assert pc_record["campaign"] is None  # no projet collectif campaign in November 2021: filed, shown to staff
    assert (offer["form"], offer["reference"], offer["campaign"]) == ("offre_stage", "ST-2022-0001", CAMPAIGN)
    subjects = sorted(str(m["Subject"]) for m in box.answers_to(pc["sender"]))
    assert len(subjects) == 2
    assert any("projet collectif" in s for s in subjects) and any("offre de stage" in s for s in subjects)


def test_offers_are_on_a_sheet_of_their_own_in_the_digest(box: Mailbox) -> None:
    """The digest lists the offer to check, in the offer form's words, and its spreadsheet has an "Offres de
    stage" sheet."""
    box.receive(offer_mail(offer_values(8), "un stage de perfectionnement à un élève administrateur territorial"))
    digest = build_digest(box.app, NOVEMBER_2021 + timedelta(hours=1), force=True)
    assert digest is not None
    text_part = digest.get_body(("plain",)).get_content().replace(NBSP, " ")
    assert "À VÉRIFIER EN PREMIER" in text_part
    assert "Type de stage : stage de perfectionnement non proposé aux élèves administrateurs" in text_part
    (sheet,) = [p for p in digest.iter_attachments() if p.get_filename().endswith(".xlsx")]
    book = load_workbook(io.BytesIO(sheet.get_content()))
    assert book.sheetnames == ["Offres de stage, scolarité 2022"]  # 31 characters at most
    sheet = book["Offres de stage, scolarité 2022"]
    headers = [c.value for c in sheet[1]]
    assert sheet["A2"].value == "ST-2022-0001"
    assert {"Type de stage", "Cadre(s) d'emplois", "Période du stage", "Contact pour la convention de stage"} <= set(
        headers)



def test_calendar_naming_a_form_without_definition_is_refused_at_start(tmp_path: Path) -> None:
    """A calendar whose [campaign] form has no definition: `mailflow run --once` refuses to start, naming
    the file, the line and the forms it knows."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    text = (REPO / "schedules" / "stages-2022-2023.toml").read_text(encoding="utf-8")
    text = text.replace('form = "offre_stage"', 'form = "offre_alternance"')
    (schedules / "stages.toml").write_text(text, encoding="utf-8")
    line = text.splitlines().index('form = "offre_alternance"') + 1
    config = write_settings(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(REPO / "schedules"), str(schedules)),
                      encoding="utf-8")
    result = run_mailflow("run", "--once", config=config)
    assert result.returncode != 0
    assert (f"stages.toml, line {line}: [campaign] form: no form definition \"offre_alternance\" "
            "(forms: offre_stage, projet_collectif)") in result.stderr, result.stderr
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def next_year(text: str) -> str:
    """The shipped offers calendar moved one year on: a campaign open at once with it from September 2022."""
    text = re.sub(r"\b20(2\d)-(\d\d)-(\d\d)\b", lambda m: f"20{int(m.group(1)) + 1}-{m.group(2)}-{m.group(3)}", text)
    return (text.replace('id = "stages-2022-2023"', 'id = "stages-2023-2024"')
            .replace("reference_year = 2022", "reference_year = 2023"))


def test_an_offer_goes_to_the_open_campaign_that_has_the_stage_it_names(tmp_path: Path) -> None:
    """Next year's offers calendar opens before this year's last stage: both are open in October 2022, and
    each offer is filed in the campaign of the stage it names (at its dates, else still to come)."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    shipped = (REPO / "schedules" / "stages-2022-2023.toml").read_text(encoding="utf-8")
    (schedules / "stages-2022-2023.toml").write_text(shipped, encoding="utf-8")
    (schedules / "stages-2023-2024.toml").write_text(next_year(shipped), encoding="utf-8")
    config = write_settings(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(REPO / "schedules"), str(schedules)),
                      encoding="utf-8")
    october = datetime(2022, 10, 3, 9, 0, tzinfo=UTC)
    app = build_app(load_settings(config), clock=ManualClock(october))
    stages = {
        "next": "un stage d'observation à un élève administrateur territorial, du 14 mars au 8 avril 2023",
        "this": "un stage d'ouverture à un élève administrateur territorial, du 6 février au 3 mars 2023",
        "undated": "un stage d'observation à un élève administrateur territorial",
    }
    for n, (name, stage) in enumerate(stages.items(), start=20):
        (tmp_path / f"{name}.eml").write_bytes(offer_mail(offer_values(n), stage, date=october).as_bytes())
    ingest_files(app, [tmp_path / f"{name}.eml" for name in stages])
    with app.sessions() as session:
        filed = [(r["campaign"], r["reference"], r["status"], [p["period"] for p in r["placements"]])
                 for r in map(proposal_record, session.scalars(select(Proposal).order_by(Proposal.id)))]
    assert filed == [
        ("stages-2023-2024", "ST-2023-0001", "complete", ["observation-administrateurs"]),
        ("stages-2022-2023", "ST-2022-0001", "complete", ["ouverture-administrateurs"]),
        ("stages-2023-2024", "ST-2023-0002", "complete", ["observation-administrateurs"]),
    ]


def test_offer_acknowledgement_preview_renders_the_example(tmp_path: Path) -> None:
    """`mailflow templates render collectivite/accuse-reception-offre` shows the made-up offer, in French."""
    result = run_mailflow("templates", "render", "collectivite/accuse-reception-offre",
                          config=write_settings(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "[ST-2022-0004] Accusé de réception de votre offre de stage" in result.stdout
    assert "du lundi 14 mars au vendredi 8 avril 2022." in re.sub(r"[\u00a0\u202f]|&nbsp;", " ", result.stdout)


def proposal_then_offer(tmp_path: Path, proposal_from: str, offer: dict[str, str], seed: int) -> Any:
    """mailflow in June 2021, with a projet collectif proposal from `proposal_from` (2 June 2021; its
    collectivité made from `seed`) and an observation stage offer from `offer`'s collectivité filed."""
    app = make_app(tmp_path, clock=ManualClock(datetime(2021, 6, 1, tzinfo=UTC)))
    earlier = tmp_path / "earlier.eml"
    earlier.write_bytes(proposal_mail({**collectivity(seed), "sender": proposal_from},
                                      date=datetime(2021, 6, 2, 9, 0, tzinfo=UTC)).as_bytes())
    letter = tmp_path / "offer.eml"
    letter.write_bytes(offer_mail(offer, "un stage d'observation à un élève administrateur territorial").as_bytes())
    ingest_files(app, [earlier, letter])
    return app


def test_calendar_calls_for_each_stage_type_those_who_did_not_offer_it(tmp_path: Path) -> None:
    """A collectivité of an earlier campaign that offered an observation stage to an administrateur is not
    called again for that one, but is for the conservateurs' (8 November 2021) and the thematic stages
    (7 January 2022)."""
    values = offer_values(9)
    app = proposal_then_offer(tmp_path, values["sender"], values, 9)
    calls = []
    for day in (datetime(2021, 11, 8, 10, 0, tzinfo=UTC), datetime(2022, 1, 7, 10, 0, tzinfo=UTC)):
        app.clock.set(day)
        run_due(app)
        with app.sessions() as session:
            calls = [(r.reminder, r.recipient) for r in session.scalars(select(ReminderRow))]
    assert sorted(calls) == [("offres-observation-conservateurs", values["sender"]),
                             ("offres-thematique", values["sender"])]


def test_the_call_for_projets_collectifs_goes_to_those_that_hosted_a_team_not_one_eleve(tmp_path: Path) -> None:
    """The call for projets collectifs (27 May 2022, four weeks before its deadline) goes to the collectivités
    whose projet collectif was accepted (the reminder's `forms`), not to one whose accepted stage offer had
    one élève."""
    team, stage = offer_values(10), offer_values(11)
    app = proposal_then_offer(tmp_path, team["sender"], stage, 10)
    with app.sessions.begin() as session:
        for proposal in session.scalars(select(Proposal)):
            proposal.status = "accepted"
            proposal.campaign = "an-earlier-year"  # both hosted élèves in an earlier campaign
    app.clock.set(datetime(2022, 5, 27, 10, 0, tzinfo=UTC))
    run_due(app)
    with app.sessions() as session:
        called = [r.recipient for r in session.scalars(select(ReminderRow))
                  if r.reminder == "offres-projets-collectifs"]
    assert called == [team["sender"]]


def test_calendar_period_naming_an_unknown_stage_type_is_refused(tmp_path: Path) -> None:
    """A period whose stage_type the offer form does not name is refused at start, with file and line."""
    text = (REPO / "schedules" / "stages-2022-2023.toml").read_text(encoding="utf-8")
    text = text.replace('stage_type = "thematique"', 'stage_type = "decouverte"')
    (tmp_path / "stages.toml").write_text(text, encoding="utf-8")
    line = text.splitlines().index('stage_type = "decouverte"') + 1
    with pytest.raises(CalendarError) as refused:
        check_periods(load_calendars(tmp_path), load_form_definitions())
    assert (f"stages.toml, line {line}: period 'thematique': stage_type: \"decouverte\" is not in form offre_stage "
            "(observation, ouverture, perfectionnement, professionnalisation, thematique)") in str(refused.value)


def test_an_offer_completed_in_its_thread_becomes_its_version_two(box: Mailbox) -> None:
    """An offer without its SIRET, then the letter again in reply to [ST-2022-0001]: version 2, told so."""
    values = offer_values(10)
    first = offer_mail({**values, "siret": ""}, "un stage thématique à un élève administrateur territorial")
    box.receive(first)
    later = NOVEMBER_2021 + timedelta(days=2)
    box.receive(offer_mail(values, "un stage thématique à un élève administrateur territorial", date=later,
                           subject="RE: [ST-2022-0001] Accusé de réception de votre offre de stage"), at=later)
    v1, v2 = box.records()
    assert (v1["reference"], v1["status"], v1["missing"]) == ("ST-2022-0001", "superseded", ["collectivity.siret"])
    assert (v2["reference"], v2["version"], v2["status"]) == ("ST-2022-0001", 2, "complete")
    answers = box.answers_to(values["sender"])
    assert len(answers) == 2
    assert "« N° de SIRET de la collectivité »" in text(answers[0]).replace(NBSP, " ")
    assert "Elle annule et remplace la version précédente de cette offre." in text(answers[1])


def test_the_console_shows_an_offer_with_its_own_fields(tmp_path: Path) -> None:
    """The console lists the offer, shows it with the offer form's labels (stage type, cadre, period) and
    previews the offer's own acknowledgement."""
    app = web.service(tmp_path, now=NOVEMBER_2021)
    web.ingest(app, offer_mail(offer_values(11), "un stage d'observation à un élève administrateur territorial"),
               "offer")
    http = web.client(app)
    web.login(http)
    assert "ST-2022-0001" in http.get("/propositions").text
    page = http.get("/propositions/ST-2022-0001")
    assert page.status_code == 200
    for shown in ("Type de stage", "Stage d&#39;observation", "Cadre(s) d&#39;emplois",
                  "élèves administrateurs territoriaux", "du 14 mars au 8 avril 2022", "Contact pour la convention"):
        assert shown in page.text, shown
    preview = http.get("/propositions/ST-2022-0001/accuse")
    assert preview.status_code == 200
    assert "Accusé de réception de votre offre de stage" in preview.text
    corrected = http.post("/propositions/ST-2022-0001/champ", data={
        "csrftoken": web.csrf(page.text), "path": "tutor.phone", "value": "03 88 15 53 69"})
    assert corrected.status_code == 303
    with app.sessions() as session:
        offer = session.scalars(select(Proposal)).one()
        assert offer.fields["tutor"]["phone"] == "+33388155369"
        assert [p["period"] for p in offer.fields["placements"]] == ["observation-administrateurs"]
