"""Console benchmark: the dashboard and the proposals list with 2,000 proposals (target: under 200 ms each).

    python benchmarks/console.py [--proposals 2000] [--runs 20] [--database-url URL] [--json FILE]

Builds a fresh service in a temporary folder (SQLite unless --database-url is given), files the
proposals as the pipeline leaves them (a mail row, a proposal row with all its fields, a third of
them incomplete, some versions 2, a few decided), signs in through the login form, then times each
page through the whole ASGI stack (session, CSRF, gate, database, templates) in process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailflow.db.models import Message, Proposal  # noqa: E402
from tests.factories import collectivity  # noqa: E402
from tests.web_helpers import client, login, service  # noqa: E402

CAMPAIGN = "projet-collectif-2025-2026"
PAGES = {"dashboard": "/", "dashboard, replanned": "/", "list": "/propositions",
         "list, searched": "/propositions?q=ville-test-1999",
         "list, filtered": f"/propositions?campagne={CAMPAIGN}&statut=incomplete"}


def fill(app, count: int) -> None:  # noqa: ANN001
    """`count` proposals of the 2025-2026 campaign, as filed by the pipeline."""
    start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    with app.sessions.begin() as session:
        for n in range(count):
            values = collectivity(n + 1)
            at = start + timedelta(minutes=90 * n)
            message = Message(mailbox="INBOX", uidvalidity=1, uid=n + 1, message_id=f"<bench-{n}@example.fr>",
                              content_hash=f"{n:064x}", received_at=at, sender=values["sender"],
                              subject=f"Proposition – {values['name']}", size=4000, state="moved",
                              verdict="proposal", reason="proposition enregistrée", created_at=at)
            fields = {
                "collectivity": {k: values[k] for k in ("name", "siret", "address", "hosting_address", "hr_contact")}
                | {"hr_email": None if n % 3 == 0 else values["hr_email"]},
                "dgs": {"last_name": values["dgs_last_name"], "first_name": values["dgs_first_name"],
                        "email": values["dgs_email"]},
                "tutor": {"last_name": values["tutor_last_name"], "first_name": values["tutor_first_name"],
                          "role": values["tutor_role"], "email": values["tutor_email"]},
                "mission": {"title": values["title"], "context": values["context"], "stakes": values["stakes"],
                            "objectives": values["objectives"], "cross_disciplinary_value": values["value"]},
                "logistics": {},
            }
            status = "incomplete" if n % 3 == 0 else ("accepted" if n % 10 == 1 else "complete")
            session.add(Proposal(
                reference=f"PC-2025-{n + 1:04d}", form="projet_collectif", campaign=CAMPAIGN, status=status,
                version=1, late=False, siret=values["siret"], sender=values["sender"], received_at=at,
                message=message, source_kind="body", source_filename=None, fields=fields,
                missing=["collectivity.hr_email"] if n % 3 == 0 else [], problems=[], flags=[],
                created_at=at, updated_at=at))


def measure(http, path: str, runs: int, replan: bool = False) -> list[float]:  # noqa: ANN001
    """Milliseconds of `runs` GETs of `path` (after one warm-up); `replan`: as after a change in the database."""
    assert http.get(path).status_code == 200, path
    times = []
    for _ in range(runs):
        if replan:
            http.app.state.coming.clear()
        started = time.perf_counter()
        response = http.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def main() -> int:
    """Run the benchmark and print one line per page: median and 95th percentile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = service(Path(folder), now=datetime(2025, 8, 20, 8, 0, tzinfo=UTC), database_url=args.database_url)
        fill(app, args.proposals)
        http = client(app)
        login(http)
        results = {}
        for name, path in PAGES.items():
            times = measure(http, path, args.runs, replan="replanned" in name)
            results[name] = {"median_ms": statistics.median(times),
                             "p95_ms": statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]}
            print(f"{name:<22} {args.proposals} proposals: median {results[name]['median_ms']:.0f} ms, "
                  f"p95 {results[name]['p95_ms']:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps({"proposals": args.proposals, "runs": args.runs, "pages": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
