"""Rare work run in a short-lived process: its result, its error, and its death, each told to the caller."""

from __future__ import annotations

import json

import pytest

from mailflow.apart import run_apart
from mailflow.errors import ProcessStopped


def test_the_result_comes_back_from_the_other_process() -> None:
    assert run_apart("json:dumps", {"réponse": [1, 2]}) == json.dumps({"réponse": [1, 2]})


def test_the_function_s_own_error_is_raised_to_the_caller() -> None:
    with pytest.raises(json.JSONDecodeError):
        run_apart("json:loads", "pas du JSON")


def test_a_process_that_dies_is_a_plain_error_naming_the_work() -> None:
    with pytest.raises(ProcessStopped, match=r"os:_exit stopped before it finished"):
        run_apart("os:_exit", 3)


def test_a_process_past_its_time_is_stopped_and_said_so() -> None:
    """A child that hangs never holds its caller (the scheduler's thread, for a digest) for good."""
    with pytest.raises(ProcessStopped, match=r"time:sleep did not finish within 0.5 s and was stopped"):
        run_apart("time:sleep", 600, timeout=0.5)
