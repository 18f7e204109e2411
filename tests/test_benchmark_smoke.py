"""The ingest benchmark runs end to end on a small lot (it measures; nothing here judges its numbers)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.factories import REPO


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_ingest_benchmark_runs_on_twenty_mails(dovecot, tmp_path) -> None:  # noqa: ANN001
    """`benchmarks/ingest.py --mails 20` prints the five measures and the daemon stops cleanly."""
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "ingest.py"), "--mails", "20", "--latency-mails", "5",
         "--big-mb", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=280, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for measure in ("(a) raw limit", "(b) mailflow end to end", "(c) ratio", "(d) latency", "(e) peak memory"):
        assert measure in result.stdout
    results = json.loads(out.read_text())
    assert results["mails"] == 20 and results["latency_mails"] == 5
    assert results["exit_status"] == 0
