"""The generated corpus (docx, PDF, odt, plain and HTML bodies in many layouts) is read accurately."""

from __future__ import annotations

import email
import email.policy
from collections import Counter

import pytest

from mailflow.pipeline.extract import extract_forms
from mailflow.pipeline.forms.definition import load_form_definition
from tests.corpus.generate import build_corpus
from tests.corpus.scoring import PATHS, wrong_fields


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """50 generated mails and what the extractor reads from each."""
    cases = build_corpus(tmp_path_factory.mktemp("corpus"), count=50)
    definition = load_form_definition()
    results = []
    for case in cases:
        message = email.message_from_bytes(case.eml.read_bytes(), policy=email.policy.default)
        results.append((case, extract_forms(message, definition)))
    return results


def test_corpus_covers_every_carrier_and_layout(corpus):
    """The corpus has at least 40 forms, spread over the five carriers and several layouts each."""
    carriers = Counter(case.carrier for case, _ in corpus)
    assert len(corpus) >= 40
    assert set(carriers) == {"docx", "pdf", "odt", "body", "html"}
    assert len({(case.carrier, case.layout) for case, _ in corpus}) >= 15


def test_every_corpus_mail_gives_exactly_one_form_of_the_right_kind(corpus):
    """Each generated mail yields one form, reported with its carrier's source kind."""
    for case, result in corpus:
        assert len(result.forms) == 1, case.name
        assert result.forms[0].source_kind == case.source_kind, case.name
        assert result.unreadable == (), case.name


def test_corpus_field_accuracy_is_at_least_98_percent(corpus):
    """At least 98 % of the corpus's fields are read right (compared like the project's scorer)."""
    wrong = []
    for case, result in corpus:
        got = result.forms[0].fields if result.forms else None
        wrong.extend(f"{case.name}: {path}" for path in wrong_fields(case.fields, got))
    total = len(corpus) * len(PATHS)
    accuracy = 1 - len(wrong) / total
    assert accuracy >= 0.98, f"accuracy {accuracy:.3f}; wrong: {wrong[:20]}"
