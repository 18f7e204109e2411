"""Ingest benchmark: mailflow end to end against the limit the mail server itself sets.

    .venv/bin/python benchmarks/ingest.py              # 1,000 mails, 100 for the latency
    .venv/bin/python benchmarks/ingest.py --mails 20 --latency-mails 5 --big-mb 2    # a quick check

It starts a private Dovecot and an aiosmtpd server (tests/fixtures), delivers N realistic
proposal mails (a mix of Word, PDF and body forms, 50 to 150 KB each: the form plus a logo or a
scanned annex, as collectivités send them), and prints in one run:

(a) the raw limit: imapclient fetching the N mails in batches and `email` parsing each, nothing else;
(a') the same plus the fastest available text layer of every attachment (benchmarks/floors.py);
(b) mailflow end to end (`mailflow run`; SQLite, or PostgreSQL with one or two daemons): from its
    READY until every acknowledgement has reached the SMTP server;
(c) the ratios (b)/(a) and (b)/(a');
(d) the latency from APPEND to the acknowledgement received, daemon waiting in IDLE, median and
    99th percentile over mails sent one by one;
(e) the peak memory of the daemon and its document readers after the lot, and after one more mail
    with a 20 MB attachment: their proportional set size (PSS: the pages they share counted once)
    sampled ten times a second, and the sum of each process's own peak (VmHWM, which counts the
    shared pages once per process).

Targets (issue 17, docs/benchmarks.md): (b) within 4x (a); latency median under 0.8 s, p99 under
2 s; peak memory (the daemon and its worker processes) under 200 MB. Nothing here is asserted: it measures.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select  # noqa: E402

from mailflow.db.models import Message, OutboxMail  # noqa: E402
from tests.corpus.generate import build_corpus  # noqa: E402
from tests.factories import write_settings  # noqa: E402
from tests.fixtures import wait_until  # noqa: E402
from tests.fixtures.dovecot import start_dovecot  # noqa: E402
from tests.fixtures.postgres import create_database, start_postgres  # noqa: E402
from tests.fixtures.smtp import start_smtp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import raw_limit, text_limit  # noqa: E402

JUNE = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
CARRIERS = ("docx", "pdf", "body")


# -- the corpus ------------------------------------------------------------------------------------


def corpus(count: int, folder: Path, seed: int = 2025) -> list[bytes]:
    """`count` proposal mails of 50-150 KB: generated forms (docx, PDF, body) plus a logo or annex image."""
    cases = [c for c in build_corpus(folder, count=45, seed=seed) if c.carrier in CARRIERS]
    rng = random.Random(seed)
    mails = []
    for n in range(count):
        case = cases[n % len(cases)]
        message = email.message_from_bytes(case.eml.read_bytes(), policy=email.policy.default)
        domain = f"commune-{n}.example.fr"
        for name, value in (("From", f"Service RH <rh@{domain}>"), ("Message-ID", make_msgid(domain=domain))):
            del message[name]
            message[name] = value
        size = len(bytes(message))
        target = rng.randint(50_000, 150_000)
        if target > size + 2_000:
            padding = rng.randbytes(int((target - size) * 3 / 4))  # base64 grows it by a third
            message.add_attachment(padding, maintype="image", subtype="jpeg", filename="logo-collectivite.jpg")
        mails.append(bytes(message))
    return mails


def big_mail(folder: Path, megabytes: float) -> bytes:
    """A Word proposal with a scanned annex of `megabytes` MB (random bytes, as incompressible as a scan)."""
    case = next(c for c in build_corpus(folder / "big", count=6) if c.carrier == "docx")
    message = email.message_from_bytes(case.eml.read_bytes(), policy=email.policy.default)
    del message["Message-ID"]
    message["Message-ID"] = make_msgid(domain="grande-ville.example.fr")
    del message["From"]
    message["From"] = "Service RH <rh@grande-ville.example.fr>"
    annex = random.Random(7).randbytes(int(megabytes * 1_000_000))
    message.add_attachment(annex, maintype="image", subtype="jpeg", filename="annexe-plans-scannes.jpg")
    return bytes(message)


# -- the daemon ------------------------------------------------------------------------------------


class Daemon:
    """`mailflow run` in a subprocess, with a NOTIFY_SOCKET to learn when it is READY."""

    def __init__(self, workdir: Path, password: str, name: str = "daemon"):
        self.folder = Path(tempfile.mkdtemp(prefix="mf-bench-"))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.folder / "notify"))
        self.ready = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()
        env = dict(os.environ, NOTIFY_SOCKET=str(self.folder / "notify"))
        env["MAILFLOW_TEST_IMAP_PASSWORD"] = password
        self.log = workdir / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "--config", str(workdir / "settings.toml"), "run"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
        )

    def _listen(self) -> None:
        while True:
            try:
                data = self.notify.recv(4096)
            except OSError:
                return
            if b"READY=1" in data:
                self.ready.set()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the daemon and its live worker processes have used so far."""
        total = 0.0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def peak_rss_mb(self) -> float:
        """The peak resident memory so far (VmHWM) of the daemon plus that of its worker processes, in MB."""
        total = 0.0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(line.split()[1]) / 1024 for line in lines if line.startswith("VmHWM:"))
        return total

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)
        finally:
            self.notify.close()


def _children(pid: int) -> list[int]:
    """Every process below `pid` (mailflow's document readers), children's children included."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields:
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = parents.get(todo.pop(), [])
        found.extend(below)
        todo.extend(below)
    return found


def _pss_mb(pids: list[int]) -> float:
    """The proportional set size of these processes together, in MB: pages they share counted once."""
    total = 0.0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) / 1024 for line in text.splitlines() if line.startswith("Pss:"))
    return total


class PeakPss:
    """Samples the PSS of a daemon and its readers ten times a second; `peak` is the highest sum seen."""

    def __init__(self, daemons: list[Daemon]):
        self.daemons, self.peak = daemons, 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for daemon in self.daemons:
                self.peak = max(self.peak, _pss_mb([daemon.process.pid, *_children(daemon.process.pid)]))

    def stop(self) -> float:
        self._stop.set()
        return self.peak


def counts(url: str) -> tuple[int, int, int]:
    """(mails moved, outbox rows, outbox rows sent) in mailflow's database."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            moved = connection.execute(
                select(func.count()).select_from(Message).where(Message.state == "moved")
            ).scalar_one()
            total = connection.execute(select(func.count()).select_from(OutboxMail)).scalar_one()
            sent = connection.execute(
                select(func.count()).select_from(OutboxMail).where(OutboxMail.status == "sent")
            ).scalar_one()
            return moved, total, sent
    except Exception:  # noqa: BLE001 - the schema is not there yet
        return 0, 0, 0
    finally:
        engine.dispose()


# -- the run ---------------------------------------------------------------------------------------


def run(mails: int, latency_mails: int, big_mb: float, keep: bool, database: str = "sqlite",
        daemons: int = 1, readers: int | None = None) -> dict[str, float]:
    """Measure (a) to (e) once; the results by name."""
    os.environ.pop("MAILFLOW_TEST_DATABASE_URL", None)  # the benchmark chooses and reads its own database
    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    print(f"generating {mails + latency_mails} mails…", flush=True)
    lot = corpus(mails + latency_mails, root / "corpus")
    sizes = [len(m) for m in lot[:mails]]
    big = big_mail(root / "corpus", big_mb) if big_mb > 0 else None
    dovecot = start_dovecot()
    smtp = start_smtp()
    cluster = start_postgres() if database == "postgresql" else None
    running: list[Daemon] = []
    try:
        workdir = root / "mailflow"
        url = create_database(cluster.url, "mailflow_bench") if cluster else f"sqlite:///{workdir / 'mailflow.sqlite3'}"
        write_settings(workdir, imap=dovecot, smtp=smtp, database_url=url,
                       handle_since="2025-06-01")  # archive in workdir
        settings = workdir / "settings.toml"
        text = settings.read_text().replace("poll_seconds = 450\n",
                                            "poll_seconds = 450\nmax_message_bytes = 41943040\n"
                                            + ("" if readers is None else f"reader_processes = {readers}\n"))
        settings.write_text(text.replace("answers_per_sender_per_day = 5", "answers_per_sender_per_day = 50"))

        print(f"delivering {mails} mails to Dovecot…", flush=True)
        for raw in lot[:mails]:
            dovecot.append(raw, internaldate=JUNE)

        raw_limit(dovecot, mails)  # untimed: a first read warms Dovecot and this process ((a) was 20-40 % slower)
        raw_seconds, raw_cpu = raw_limit(dovecot, mails)
        print(f"(a) raw fetch+parse: {raw_seconds:.2f} s", flush=True)
        text_seconds, text_cpu = text_limit(dovecot, mails)
        print(f"(a') fetch+parse+text layer: {text_seconds:.2f} s", flush=True)

        for n in range(daemons):  # one after the other: two first starts would race on the schema upgrade
            running.append(Daemon(workdir, dovecot.password, f"daemon-{n}"))
            if not running[-1].ready.wait(120):
                tail = running[-1].log.read_text(errors="replace")[-3000:]
                raise RuntimeError("mailflow did not say READY=1\n" + tail)
        pss = PeakPss(running)
        started, cpu_at_ready = time.perf_counter(), sum(d.cpu_seconds() for d in running)
        log = running[0].log
        wait_until(lambda: counts(url)[0] == mails, 3600, f"{mails} mails filed", log)
        wait_until(lambda: len(smtp.messages) >= counts(url)[1] > 0, 3600, "every answer sent", log)
        end_to_end = time.perf_counter() - started
        end_to_end_cpu = sum(d.cpu_seconds() for d in running) - cpu_at_ready
        acknowledged = len(smtp.messages)
        print(f"(b) mailflow end to end: {end_to_end:.2f} s ({acknowledged} acknowledgements)", flush=True)

        latencies = []
        time.sleep(1.0)  # the daemon is back in IDLE
        for raw in lot[mails:]:
            before = len(smtp.messages)
            appended = time.perf_counter()
            dovecot.append(raw, internaldate=JUNE)
            smtp.wait_for(before + 1, timeout=60)
            latencies.append(time.perf_counter() - appended)
            time.sleep(0.2)
        rss_lot = max(d.peak_rss_mb() for d in running)
        pss_lot = pss.peak

        if big:
            before = len(smtp.messages)
            dovecot.append(big, internaldate=JUNE)
            smtp.wait_for(before + 1, timeout=300)
        rss_big = max(d.peak_rss_mb() for d in running)
        pss_big = pss.stop()
        status = max(abs(d.stop()) for d in running)
        running = []
    finally:
        for daemon in running:
            daemon.stop()
        dovecot.close()
        smtp.close()
        if cluster:
            cluster.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)

    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))] if ordered else float("nan")
    return {
        "database": database,
        "daemons": daemons,
        "readers": "default" if readers is None else readers,
        "mails": mails,
        "mean_kb": statistics.mean(sizes) / 1000,
        "min_kb": min(sizes) / 1000,
        "max_kb": max(sizes) / 1000,
        "raw_seconds": raw_seconds,
        "raw_per_second": mails / raw_seconds,
        "text_seconds": text_seconds,
        "text_per_second": mails / text_seconds,
        "mailflow_seconds": end_to_end,
        "mailflow_per_second": mails / end_to_end,
        "ratio": end_to_end / raw_seconds,
        "ratio_text": end_to_end / text_seconds,
        "raw_cpu": raw_cpu,
        "text_cpu": text_cpu,
        "mailflow_cpu": end_to_end_cpu,
        "ratio_cpu": end_to_end_cpu / raw_cpu,
        "ratio_text_cpu": end_to_end_cpu / text_cpu,
        "load_average": os.getloadavg()[0],
        "latency_mails": len(latencies),
        "latency_median": statistics.median(latencies) if latencies else float("nan"),
        "latency_p99": p99,
        "rss_lot_mb": rss_lot,
        "rss_big_mb": rss_big,
        "pss_lot_mb": pss_lot,
        "pss_big_mb": pss_big,
        "big_mb": big_mb,
        "exit_status": status,
    }


def report(r: dict[str, float]) -> str:
    """The results as the table docs/benchmarks.md shows."""
    return "\n".join([
        f"mails: {r['mails']:.0f}, {r['mean_kb']:.0f} KB on average ({r['min_kb']:.0f}–{r['max_kb']:.0f} KB)",
        f"(a) raw limit, imapclient fetch + email parse: {r['raw_seconds']:.2f} s "
        f"({r['raw_per_second']:.0f} mails/s)",
        f"(a') (a) + the fastest text layer of every attachment (PDFium, document XML): "
        f"{r['text_seconds']:.2f} s ({r['text_per_second']:.0f} mails/s)",
        f"(b) mailflow end to end ({r['database']}, {r['daemons']:.0f} daemon(s), reader processes: {r['readers']}), "
        f"until every acknowledgement "
        f"reached SMTP: {r['mailflow_seconds']:.2f} s ({r['mailflow_per_second']:.1f} mails/s)",
        f"(c) ratio (b)/(a): {r['ratio']:.1f}x  (target: 4x or less, goal 2x); (b)/(a'): {r['ratio_text']:.1f}x",
        f"    in CPU seconds (blind to other jobs on the machine): (a) {r['raw_cpu']:.2f} s, "
        f"(a') {r['text_cpu']:.2f} s, "
        f"(b) {r['mailflow_cpu']:.2f} s; (b)/(a) {r['ratio_cpu']:.1f}x, (b)/(a') {r['ratio_text_cpu']:.1f}x",
        f"(d) latency APPEND → acknowledgement, IDLE, {r['latency_mails']:.0f} mails one by one: "
        f"median {r['latency_median']:.3f} s, p99 {r['latency_p99']:.3f} s  (targets: 0.8 s, 2 s)",
        f"(e) peak memory of the daemon and its readers, shared pages counted once (PSS, sampled at 10 Hz): "
        f"{r['pss_lot_mb']:.0f} MB after the lot, {r['pss_big_mb']:.0f} MB with one {r['big_mb']:.0f} MB attachment "
        f"(target: under 200 MB, goal 150 MB)",
        f"    sum of each process's own peak (VmHWM, shared pages counted in each): {r['rss_lot_mb']:.0f} MB "
        f"after the lot, {r['rss_big_mb']:.0f} MB with the big mail",
        f"daemon exit status after SIGTERM: {r['exit_status']:.0f}; load average at the end {r['load_average']:.1f} "
        f"on {os.cpu_count()} CPUs",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=1000, help="mails in the lot (default 1000)")
    parser.add_argument("--latency-mails", type=int, default=100, help="mails sent one by one (default 100)")
    parser.add_argument("--big-mb", type=float, default=20, help="size of the big attachment (default 20 MB)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="SQLite file, or a private PostgreSQL cluster (tests/fixtures/postgres.py)")
    parser.add_argument("--daemons", type=int, default=1, help="daemons on the database (PostgreSQL for 2 or more)")
    parser.add_argument("--readers", type=int, help="[mailbox] reader_processes (default: the setting's default)")
    args = parser.parse_args(argv)
    if args.daemons > 1 and args.database != "postgresql":
        parser.error("several daemons need --database postgresql (one SQLite file has one daemon)")
    results = run(args.mails, args.latency_mails, args.big_mb, args.keep, args.database, args.daemons, args.readers)
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
