"""Extraction benchmark: per-field accuracy and documents per second, per carrier.

    .venv/bin/python benchmarks/extraction.py [--count 60] [--seed 2025] [--samples PATH]

Builds the generated corpus (tests/corpus/generate.py) in a temporary directory, adds the shared
samples when ../shared/samples is present, runs extract_forms on every mail and prints the accuracy
of each of the 24 fields, the overall accuracy (corpus and samples apart) and the throughput.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailflow.pipeline.extract import extract_forms  # noqa: E402
from mailflow.pipeline.forms.definition import load_form_definition  # noqa: E402
from tests.corpus.generate import build_corpus  # noqa: E402
from tests.corpus.scoring import PATHS, wrong_fields  # noqa: E402


def _samples(folder: Path) -> list[tuple[str, str, Path, dict]]:
    out = []
    for case in sorted(folder.iterdir()):
        expected_file = case / "expected.json"
        if not expected_file.exists():
            continue
        expected = json.loads(expected_file.read_text(encoding="utf-8"))
        if expected.get("expect") == "filed":
            fields = {s: expected[s] for s in ("collectivity", "dgs", "tutor", "mission", "logistics")}
            out.append((case.name, expected["source_kind"], case / "message.eml", fields))
    return out


def _run(cases, definition) -> tuple[dict, dict, dict, list[str]]:
    right: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    documents: dict[str, int] = defaultdict(int)
    wrong_cases: list[str] = []
    for name, carrier, eml, expected in cases:
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        start = time.perf_counter()
        result = extract_forms(message, definition)
        seconds[carrier] += time.perf_counter() - start
        documents[carrier] += 1
        got = result.forms[0].fields if len(result.forms) == 1 else None
        wrong = set(wrong_fields(expected, got))
        for path in PATHS:
            right[path] += path not in wrong
        wrong_cases.extend(f"{name}: {path}" for path in sorted(wrong))
    return right, seconds, documents, wrong_cases


def _report(title: str, cases, right, seconds, documents, wrong) -> float:
    total = len(cases) * len(PATHS)
    accuracy = sum(right.values()) / total if total else 0.0
    print(f"\n== {title}: {len(cases)} forms, {total} fields")
    print("per field")
    for path in PATHS:
        print(f"  {path:42s} {right[path]:3d}/{len(cases):<3d} {right[path] / len(cases):6.3f}")
    print("per carrier")
    for carrier in sorted(documents):
        rate = documents[carrier] / seconds[carrier] if seconds[carrier] else float("inf")
        print(f"  {carrier:6s} {documents[carrier]:3d} documents  {seconds[carrier]:7.2f} s"
              f"  {rate:7.1f} documents/s")
    print(f"overall field accuracy {sum(right.values())}/{total} = {accuracy:.4f}")
    for line in wrong[:30]:
        print(f"  wrong: {line}")
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the form extractor.")
    parser.add_argument("--count", type=int, default=60, help="generated forms (default 60)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared" / "samples")
    args = parser.parse_args(argv)
    definition = load_form_definition()
    with tempfile.TemporaryDirectory(prefix="mailflow-corpus-") as tmp:
        start = time.perf_counter()
        generated = build_corpus(Path(tmp), args.count, args.seed)
        print(f"corpus: {len(generated)} mails generated in {time.perf_counter() - start:.1f} s")
        cases = [(c.name, c.carrier, c.eml, c.fields) for c in generated]
        corpus_accuracy = _report("generated corpus", cases, *_run(cases, definition))
    line = f"CORPUS_FIELD_ACCURACY={corpus_accuracy:.4f}"
    if args.samples.is_dir():
        samples = _samples(args.samples)
        sample_accuracy = _report(f"samples ({args.samples})", samples, *_run(samples, definition))
        line += f" SAMPLES_FIELD_ACCURACY={sample_accuracy:.4f}"
    else:
        print(f"\nsamples: {args.samples} not present, skipped")
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
