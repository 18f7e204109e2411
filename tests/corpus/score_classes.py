"""Score the layout corpus per class with ../shared/tools/score_export.py, as staff would score an export.

The extractor and the validator run on every case; their records are written as the JSON array
`mailflow proposals export --format json` prints, and the shared scorer reads them against the
cases' expected.json. Where ../shared is absent, tests/corpus/scoring.py (the same comparison) is used.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailflow.pipeline.extract import extract_forms
from mailflow.pipeline.forms.definition import FormDefinition
from mailflow.pipeline.validate import validate_fields
from tests.corpus.classes import Case
from tests.corpus.scoring import PATHS, wrong_fields

SCORER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "score_export.py"
RECORDED = Path(__file__).with_name("recorded_accuracy.json")
_CASE_LINE = re.compile(r"^\s+(\S+)\s+filed\s+\d+/\d+ filed, fields (\d+)/(\d+)", re.M)


@dataclass
class ClassScore:
    """One class: fields right out of fields scored, false "incomplete" statuses, wrong fields."""

    right: int = 0
    total: int = 0
    false_incomplete: int = 0
    wrong: list[str] = field(default_factory=list)
    per_field: dict[str, int] = field(default_factory=dict)
    forms: int = 0

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0


def export_records(cases: list[Case], definition: FormDefinition) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The export JSON of what mailflow files from each case, and each case's extracted fields."""
    records, got = [], {}
    for case in cases:
        message = email.message_from_bytes((case.folder / "message.eml").read_bytes(), policy=email.policy.default)
        result = extract_forms(message, definition)
        got[case.folder.name] = result.forms[0].fields if len(result.forms) == 1 else None
        for form in result.forms:
            validation = validate_fields(form.fields, definition, form.readings)
            status = "incomplete" if not validation.complete else ("to_check" if validation.to_check else "complete")
            records.append({"status": status, "missing": list(validation.missing),
                            "problems": list(validation.problems), "to_check": list(validation.to_check),
                            **form.fields,
                            "source": {"kind": form.source_kind, "filename": form.filename,
                                       "message_id": message["Message-ID"]}})
    return records, got


def score(cases: list[Case], out: Path, definition: FormDefinition) -> dict[str, ClassScore]:
    """Per class: the shared scorer's field counts, false incomplete statuses and the wrong fields."""
    records, got = export_records(cases, definition)
    export = out / "export.json"
    export.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    counts: dict[str, tuple[int, int]] = {}
    if SCORER.is_file():
        for klass in sorted({c.klass for c in cases}):
            report = subprocess.run([sys.executable, str(SCORER), str(export), str(out / klass)],
                                    capture_output=True, text=True, timeout=120, check=True).stdout
            counts.update({m[0]: (int(m[1]), int(m[2])) for m in _CASE_LINE.findall(report)})
    by_id = {r["source"]["message_id"]: r for r in records}
    scores: dict[str, ClassScore] = {}
    for case in cases:
        s = scores.setdefault(case.klass, ClassScore())
        fields = got[case.folder.name]
        wrong = wrong_fields(case.fields, fields)
        right, total = counts.get(case.folder.name, (len(PATHS) - len(wrong), len(PATHS)))
        s.right += right
        s.total += total
        s.forms += fields is not None
        s.wrong.extend(f"{case.folder.name}: {p}" for p in wrong)
        for path in PATHS:
            s.per_field[path] = s.per_field.get(path, 0) + (path not in wrong)
        expected_ok = validate_fields(case.fields, definition).complete
        message_id = email.message_from_bytes((case.folder / "message.eml").read_bytes(),
                                              policy=email.policy.default)["Message-ID"]
        record = by_id.get(message_id)
        if expected_ok and record is not None and record["status"] == "incomplete":
            s.false_incomplete += 1
    return scores


def recorded() -> dict[str, Any]:
    """The figures recorded for the layout corpus (per class accuracy, false incomplete statuses)."""
    return json.loads(RECORDED.read_text(encoding="utf-8"))
