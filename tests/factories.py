"""Factories for tests: settings files, apps wired to real test servers, and mails as collectivités send them.

Everything here is invented: names, addresses (on example domains) and SIRET numbers
(shaped and check-digited like real ones, never looked up).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from stdnum import luhn

from mailflow.clock import Clock, ManualClock
from mailflow.settings import load_settings
from tests.fixtures import wait_until  # noqa: F401 - the tests import it from here

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
_serial = itertools.count(1)


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a browser test saves its screenshot: in docs/ with MAILFLOW_SCREENSHOTS=1 (to refresh the
    README's pictures), else in the test's own folder, so that running the tests leaves the checkout as it is."""
    return (REPO / "docs" if os.environ.get("MAILFLOW_SCREENSHOTS") == "1" else tmp_path) / name


def write_settings(
    folder: Path,
    *,
    imap: Any = None,
    smtp: Any = None,
    database_url: str | None = None,
    extra: str = "",
    handle_since: str | None = None,
) -> Path:
    """A settings.toml for a test: Maildir and outbox directory unless real servers are given.

    `handle_since` (a date): for tests that deliver mails dated in the past to a daemon that runs now.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if imap is not None:
        mailbox = (
            f'kind = "imap"\nhost = "{imap.host}"\nport = {imap.port}\nsecurity = "none"\n'
            f'username = "{imap.username}"\npassword_env = "MAILFLOW_TEST_IMAP_PASSWORD"\n'
            "poll_seconds = 450\n"
        )
    else:
        mailbox = 'kind = "maildir"\npath = "inbox"\n'
    if handle_since is not None:
        mailbox += f"handle_since = {handle_since}\n"
    if smtp is not None:
        outgoing = f'kind = "smtp"\nhost = "{smtp.host}"\nport = {smtp.port}\nsecurity = "none"\n'
    else:
        outgoing = 'kind = "directory"\npath = "outbox"\n'
    url = database_url or database_url_for(folder)
    path = folder / "settings.toml"
    path.write_text(
        f"[mailbox]\n{mailbox}\n[smtp]\n{outgoing}sender = \"INET - Stages <stages.inet@cnfpt.fr>\"\n"
        f"answers_per_sender_per_day = 5\n\n[database]\nurl = \"{url}\"\n\n[archive]\npath = \"archive\"\n\n"
        f"[campaigns]\nschedules = \"{REPO / 'schedules'}\"\ntemplates = \"{REPO / 'templates'}\"\n{extra}",
        encoding="utf-8",
    )
    return path


DATABASE_ENV = "MAILFLOW_TEST_DATABASE_URL"
_databases: dict[Path, str] = {}
_private_server: list[str] = []


def database_url_for(folder: Path) -> str:
    """The database of the test working in `folder`: a SQLite file there, or, when
    MAILFLOW_TEST_DATABASE_URL is set, a fresh database on that PostgreSQL server
    ("postgresql" alone: a private throwaway cluster started on first use)."""
    server = os.environ.get(DATABASE_ENV, "").strip()
    if not server:
        return f"sqlite:///{folder / 'mailflow.sqlite3'}"
    key = folder.resolve()
    if key not in _databases:
        from tests.fixtures import on_exit
        from tests.fixtures.postgres import create_database, drop_database, start_postgres

        if server == "postgresql":
            if not _private_server:
                _private_server.append(start_postgres().url)
            server = _private_server[0]
        url = create_database(server)
        on_exit(lambda: drop_database(url, server))
        _databases[key] = url
    return _databases[key]


def make_app(
    folder: Path,
    *,
    imap: Any = None,
    smtp: Any = None,
    database_url: str | None = None,
    clock: Clock | None = None,
    monkeypatch: Any = None,
    handle_since: str | None = None,
    watching: bool = True,
) -> Any:
    """An App on a fresh database in `folder`, wired to the given test servers.

    `watching`: the service watches the mailbox from the clock's start (mail delivered later is handled).
    """
    from mailflow.pipeline.placement import start_watching
    from mailflow.service.app import build_app

    if imap is not None and monkeypatch is not None:
        monkeypatch.setenv("MAILFLOW_TEST_IMAP_PASSWORD", imap.password)
    path = write_settings(folder, imap=imap, smtp=smtp, database_url=database_url, handle_since=handle_since)
    app = build_app(load_settings(path), clock=clock or ManualClock(datetime(2025, 6, 10, 8, 0, tzinfo=UTC)))
    if watching:
        start_watching(app)
    return app


def run_mailflow(
    *args: str, config: Path | None = None, cwd: Path | None = None, env: dict[str, str] | None = None,
    crash_at: str | None = None, timeout: float = 120,
) -> subprocess.CompletedProcess:
    """`mailflow ARGS` in a child process (with `--config` when given), as an administrator runs it."""
    environment = dict(os.environ if env is None else env)
    environment.pop("MAILFLOW_CRASH_AT", None)
    if crash_at:
        environment["MAILFLOW_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "mailflow", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment)


def siret(seed: int) -> str:
    """A 14-digit SIRET whose SIREN and SIRET check digits are both right."""
    siren = f"2{seed % 10**7:07d}"
    siren += luhn.calc_check_digit(siren)
    body = siren + "0001"
    return body + luhn.calc_check_digit(body)


def collectivity(n: int | None = None) -> dict[str, str]:
    """The values of one invented collectivité, all fields filled and valid."""
    n = next(_serial) if n is None else n
    town = f"Ville-Test-{n}"
    domain = f"ville-test-{n}.example.fr"
    return {
        "name": f"Ville de {town}",
        "siret": siret(1000 + n),
        "address": f"Hôtel de Ville, {n} place de la République, 75001 {town}",
        "hosting_address": f"Direction générale, {n} rue de la Paix, 75002 {town}",
        "hr_contact": "Mme Claire Martin, direction des ressources humaines",
        "hr_email": f"rh@{domain}",
        "dgs_last_name": "DURAND",
        "dgs_first_name": "Paul",
        "dgs_email": f"dgs@{domain}",
        "tutor_last_name": "LEROY",
        "tutor_first_name": "Anne",
        "tutor_role": "Directrice générale adjointe Ressources",
        "tutor_email": f"dga@{domain}",
        "title": f"Mission test numéro {n} : piloter la transition des services",
        "context": "La collectivité engage une réorganisation de ses services supports.",
        "stakes": "Améliorer le service rendu aux habitants et la qualité de vie au travail.",
        "objectives": "- établir un diagnostic ;\n- proposer un plan d'actions.",
        "value": "Le sujet croise organisation, finances et systèmes d'information.",
        "sender": f"rh@{domain}",
    }


def proposal_body(values: dict[str, str]) -> str:
    """The form typed in a mail body, as collectivités do when Word fails them."""
    v = values
    return (
        "Bonjour,\n\nVoici notre proposition de projet collectif.\n\nPROPOSITION DE PROJET COLLECTIF\n\n"
        "COLLECTIVITÉ\n"
        f"Nom de la collectivité : {v.get('name', '')}\n"
        f"N° de SIRET de la collectivité : {v.get('siret', '')}\n"
        f"Adresse complète de la collectivité : {v.get('address', '')}\n"
        f"Adresse des locaux dans lesquels sera accueillie l'équipe : {v.get('hosting_address', '')}\n"
        f"Contact RH pour transmission de la convention : {v.get('hr_contact', '')}\n"
        f"Courriel (impératif) : {v.get('hr_email', '')}\n\n"
        "IDENTIFICATION DU DIRECTEUR GENERAL DES SERVICES\n"
        f"Nom : {v.get('dgs_last_name', '')}\nPrénom : {v.get('dgs_first_name', '')}\n"
        f"Courriel : {v.get('dgs_email', '')}\nTél : \n\n"
        "TUTEUR DU PROJET COLLECTIF\n"
        f"Nom : {v.get('tutor_last_name', '')}\nPrénom : {v.get('tutor_first_name', '')}\n"
        f"Fonction : {v.get('tutor_role', '')}\nCourriel : {v.get('tutor_email', '')}\nTél : \n\n"
        "MISSION DE PROJET COLLECTIF\n\n"
        f"Intitulé du projet collectif :\n{v.get('title', '')}\n\n"
        f"Contexte et raisons d'émergence de la mission :\n{v.get('context', '')}\n\n"
        f"Enjeux stratégiques pour la collectivité :\n{v.get('stakes', '')}\n\n"
        f"Objectifs opérationnels et résultats attendus :\n{v.get('objectives', '')}\n\n"
        "Valeur ajoutée, pour la mission, d'une approche transversale, en inter-filières :\n"
        f"{v.get('value', '')}\n\n"
        "ASPECTS PRATIQUES ET LOGISTIQUES\n"
        "Possibilité d'hébergement : Non\nAutres aspects pratiques pour les élèves : \n"
        "Permis B nécessaire : Non\nAccès en transports en commun : Oui\n\n"
        "Bien cordialement,\n\nClaire Martin\n"
    )


def form_docx(values: dict[str, str]) -> bytes:
    """The form as a Word document typed paragraph by paragraph (label, colon, value)."""
    import io

    from docx import Document

    document = Document()
    for line in proposal_body(values).split("\n"):
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def mail(
    *,
    sender: str,
    subject: str,
    body: str,
    date: datetime | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    to: str = "stages.inet@cnfpt.fr",
) -> EmailMessage:
    """A plain-text mail as a collectivité's mail client would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime(2025, 6, 10, 9, 0, tzinfo=UTC))
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2].strip(">") or "example.fr")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


def proposal_mail(values: dict[str, str] | None = None, **kwargs: Any) -> EmailMessage:
    """A proposal typed in the body of a mail from the collectivité's HR contact."""
    values = values or collectivity()
    kwargs.setdefault("subject", f"Proposition de projet collectif – {values.get('name', '')}")
    return mail(sender=values.get("sender", "rh@example.fr"), body=proposal_body(values), **kwargs)


def question_mail(sender: str = "elu@commune-test.example.fr", **kwargs: Any) -> EmailMessage:
    """A question with no form."""
    kwargs.setdefault("subject", "Question sur les projets collectifs")
    body = "Bonjour,\n\nPouvons-nous proposer deux missions ? Merci de votre réponse.\n\nCordialement\n"
    return mail(sender=sender, body=body, **kwargs)


def start_daemon(workdir: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`mailflow run` on `workdir/settings.toml` in the background, its output in `workdir/daemon.log`."""
    environment = {**os.environ, **(env or {})}
    environment.pop("MAILFLOW_CRASH_AT", None)
    with (workdir / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mailflow", "--config", str(workdir / "settings.toml"), "run"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment,
        )


def stop_daemon(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the daemon has not stopped within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
