"""The README's set-up commands are the ones that work: CI runs exactly the test command the README shows."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Shell operators as shlex (punctuation_chars) splits them: control operators end a command, a redirection
# takes the next word as its target.
CONTROL = {"|", "||", "&", "&&", ";", ";;", "(", ")", "|&"}
REDIRECTIONS = {"<", ">", ">>", "<&", ">&", "&>", ">|", "<<", "<<<", "<>"}


def setup_commands(readme: str) -> list[str]:
    """The commands of the ```sh blocks in the README's "Set up" section, in order."""
    section = re.search(r"^## Set up\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert section, 'README.md has no "## Set up" section followed by another section'
    return [block.strip() for block in SH_BLOCK.findall(section.group(1))]


def commands_on(line: str) -> list[list[str]]:
    """The simple commands of a shell line, as words, without operators and redirections."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    commands: list[list[str]] = [[]]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in CONTROL:
            commands.append([])
        elif token in REDIRECTIONS:
            index += 1  # its target
        elif token.isdigit() and following in REDIRECTIONS:  # the 2 of `2>&1`
            pass
        else:
            commands[-1].append(token)
        index += 1
    return [words for words in commands if words]


def scripts_run_by(ci_script: str) -> list[list[str]]:
    """Every command of the CI script that runs one of the repository's scripts/."""
    commands = []
    for line in ci_script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # Kept whole, so that `bash scripts/test` or `sudo scripts/test` does not pass for `scripts/test`.
        commands += [words for words in commands_on(line) if any(word.startswith("scripts/") for word in words)]
    return commands


def test_readme_set_up_shows_two_commands_that_are_executable_scripts() -> None:
    """A new user copies two commands, the demo then the tests; both are scripts they can run as written."""
    commands = setup_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2, f"expected the demo and the test command in the Set up section, got {commands}"
    assert [shlex.split(command)[0] for command in commands] == ["scripts/demo", "scripts/test"]
    for command in commands:
        program = ROOT / shlex.split(command)[0]
        assert os.access(program, os.X_OK), f"{program.relative_to(ROOT)} is not executable"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """`.ci/run` runs the README's test command word for word, and no other script: the two cannot drift."""
    test_command = shlex.split(setup_commands((ROOT / "README.md").read_text(encoding="utf-8"))[1])
    run = scripts_run_by((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert run == [test_command], f".ci/run runs {run}; the README shows {test_command}"


def test_commands_on_a_line_leave_out_operators_and_redirections() -> None:
    """The CI line `scripts/test </dev/null || status=$?` is read as the command `scripts/test`, then another."""
    assert commands_on("scripts/test </dev/null || status=$?") == [["scripts/test"], ["status=$?"]]
    piped = [["scripts/test", "-m", "not slow"], ["tee", "log"]]
    assert commands_on('scripts/test -m "not slow" 2>&1 | tee log') == piped
    assert commands_on("true; bash scripts/test") == [["true"], ["bash", "scripts/test"]]


@pytest.mark.slow
def test_the_demo_lists_what_the_readme_shows(tmp_path: Path) -> None:
    """`scripts/demo`, run in a copy of the repository, files the example mails and prints the README's list.

    The copy's `.venv` runs this interpreter, where mailflow is installed already (its pip installs nothing).
    """
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Set up\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert section
    shown = re.search(r"^```\n(PC-.*?)^```$", section.group(1), re.MULTILINE | re.DOTALL)
    assert shown, "the Set up section shows no list of proposals"
    copy = tmp_path / "mailflow"
    for part in ("scripts", "examples", "schedules", "templates"):
        shutil.copytree(ROOT / part, copy / part)
    shutil.copy(ROOT / "settings.toml", copy)
    bin_dir = copy / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    for name, body in (("pip", "exit 0"), ("mailflow", f'exec "{sys.executable}" -m mailflow "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for run, summary in ((1, "mail: 1 ignored, 3 proposal, 1 question;"), (2, "mail: 5 duplicate;")):
        result = subprocess.run(["bash", str(copy / "scripts" / "demo")], capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, result.stderr
        listed = result.stdout.split("Proposals filed:\n", 1)[1].split("\n\n", 1)[0]
        assert listed.splitlines() == shown.group(1).splitlines(), f"run {run}"
        assert summary in result.stdout, f"run {run}"  # run again, nothing is filed twice
