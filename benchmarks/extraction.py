"""Extraction benchmark: per-field accuracy and documents per second, per carrier.

    .venv/bin/python benchmarks/extraction.py [--count 60] [--seed 2025] [--samples PATH]
                                              [--per-class 6] [--record]

Builds the generated corpus (tests/corpus/generate.py) in a temporary directory, adds the shared
samples when ../shared/samples is present, runs extract_forms on every mail and prints the accuracy
of each of the 24 fields, the overall accuracy (corpus and samples apart) and the throughput.
Then builds the layout corpus of issue 16 (tests/corpus/classes.py), scores it per class with
../shared/tools/score_export.py and prints each class's accuracy, its false "incomplete" statuses and
the accuracy of every field per class. `--record` writes the per-class figures to
tests/corpus/recorded_accuracy.json, the floor the tests hold the extractor to.
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
from tests.corpus.classes import build_cases  # noqa: E402
from tests.corpus.generate import build_corpus  # noqa: E402
from tests.corpus.score_classes import RECORDED, score  # noqa: E402
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


def _layouts(definition, per_class: int, seed: int, record: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="mailflow-layouts-") as tmp:
        start = time.perf_counter()
        cases = build_cases(Path(tmp), per_class, seed)
        print(f"\n== layout corpus (issue 16): {len(cases)} mails in {len(cases) // per_class} classes, "
              f"built in {time.perf_counter() - start:.1f} s, scored by score_export.py")
        scores = score(cases, Path(tmp), definition)
    names = list(scores)
    print("per class")
    for n, name in enumerate(names, 1):
        s = scores[name]
        print(f"  {n:2d} {name:22s} {s.right:4d}/{s.total:<4d} {s.accuracy:6.3f}  forms {s.forms}/{per_class}"
              f"  false incomplete {s.false_incomplete}")
    print("per field and class (column = class number above)")
    print("  " + " " * 42 + "".join(f"{n:>5d}" for n in range(1, len(names) + 1)))
    for path in PATHS:
        cells = "".join(f"{scores[name].per_field[path] / per_class:5.2f}" for name in names)
        print(f"  {path:42s}{cells}")
    for name in names:
        for line in scores[name].wrong[:10]:
            print(f"  wrong: {line}")
    right = sum(s.right for s in scores.values())
    total = sum(s.total for s in scores.values())
    if record:
        figures = {"per_class": per_class, "seed": seed,
                   "accuracy": {name: round(scores[name].accuracy, 4) for name in names},
                   "false_incomplete": {name: scores[name].false_incomplete for name in names}}
        RECORDED.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        print(f"recorded in {RECORDED}")
    return right / total if total else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the form extractor.")
    parser.add_argument("--count", type=int, default=60, help="generated forms (default 60)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared" / "samples")
    parser.add_argument("--per-class", type=int, default=6, help="layout corpus forms per class (default 6)")
    parser.add_argument("--layout-seed", type=int, default=16)
    parser.add_argument("--record", action="store_true", help="write the per-class figures the tests hold")
    args = parser.parse_args(argv)
    definition = load_form_definition()
    with tempfile.TemporaryDirectory(prefix="mailflow-corpus-") as tmp:
        start = time.perf_counter()
        generated = build_corpus(Path(tmp), args.count, args.seed)
        print(f"corpus: {len(generated)} mails generated in {time.perf_counter() - start:.1f} s")
        cases = [(c.name, c.carrier, c.eml, c.fields) for c in generated]
        corpus_accuracy = _report("generated corpus", cases, *_run(cases, definition))
    layouts_accuracy = _layouts(definition, args.per_class, args.layout_seed, args.record)
    line = f"CORPUS_FIELD_ACCURACY={corpus_accuracy:.4f} LAYOUTS_FIELD_ACCURACY={layouts_accuracy:.4f}"
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
