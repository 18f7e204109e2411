"""The shared sample mails give exactly their expected fields."""

from __future__ import annotations

import email
import email.policy
import functools
import json
from pathlib import Path

import pytest

from mailflow.pipeline.extract import extract_forms
from mailflow.pipeline.forms.definition import load_form_definition
from mailflow.pipeline.validate import validate_fields
from tests.corpus.scoring import PATHS, canonical, same

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "samples"
CASES = (
    sorted(p.name for p in SAMPLES.iterdir() if (p / "expected.json").exists()) if SAMPLES.is_dir() else []
)
FILED = [name for name in CASES if json.loads((SAMPLES / name / "expected.json").read_text())["expect"] == "filed"]


@functools.cache
def _load(name: str):
    """The sample's expected.json and what the extractor reads from its message (read once per run)."""
    message = email.message_from_bytes(
        (SAMPLES / name / "message.eml").read_bytes(), policy=email.policy.default
    )
    expected = json.loads((SAMPLES / name / "expected.json").read_text(encoding="utf-8"))
    return extract_forms(message, load_form_definition()), expected


@pytest.mark.parametrize("name", CASES or ["(none)"])
def test_sample_gives_expected_fields(name):
    """Each filed sample yields one form whose 24 fields, source kind and filename are the expected ones."""
    if not CASES:
        pytest.skip("../shared/samples not present")
    result, expected = _load(name)
    if expected["expect"] != "filed":
        assert result.forms == ()
        assert result.unreadable == ()
        return
    assert len(result.forms) == 1
    form = result.forms[0]
    assert form.source_kind == expected["source_kind"]
    assert form.filename == expected["source_filename"]
    for path in PATHS:
        section, key = path.split(".")
        want, got = expected[section][key], form.fields[section][key]
        assert same(want, got), f"{path}: expected {want!r}, got {got!r}"
        if isinstance(want, str) and len(want) < 120:
            assert canonical(got) == canonical(want) and got.strip() == got, path


@pytest.mark.parametrize("name", FILED or ["(none)"])
def test_sample_validation_matches_expected(name):
    """Validation of each filed sample lists exactly the expected missing paths and problem paths."""
    if not FILED:
        pytest.skip("../shared/samples not present")
    result, expected = _load(name)
    validation = validate_fields(result.forms[0].fields, load_form_definition())
    assert list(validation.missing) == expected["expected_missing"]
    assert [p.split(":")[0] for p in validation.problems] == [
        p.split(":")[0] for p in expected["expected_problems"]
    ]
    assert validation.complete is (expected["expected_status"] == "complete")
