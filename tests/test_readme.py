"""Every command in README.md (and docs/usage.md, which continues its examples) runs as written offline.

The ```bash blocks are run in order, in one bash session, in a fresh offline copy of the project pointed at
the sample data (as tests/sample_project.py does) with an empty Hugging Face cache; sample output is tagged
```text and is not run. Commands that cannot run in a test are skipped, each for the reason given in SKIPPED.
Afterwards `git status` may show only what the pipeline writes (the real clone commits those): a command that
leaves a scratch file in the project fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.sample_project import LEAN_TRAINING, copy_project, offline_env

pytestmark = pytest.mark.slow

# (pattern searched in a command, why it cannot run here); each matches a command of the blocks run
SKIPPED = [
    (r"\bspam serve\b", "blocks serving the web app (tests/test_app.py drives it)"),
]
# Run after the README's own blocks, in the same session: the examples moved out of the README to keep it short.
CONTINUED_IN = ROOT / "docs" / "usage.md"
# Stripped from the front of a command: the test already runs in the venv that `.ci/setup` made.
SETUP = re.compile(r"^bash \.ci/setup( &&|;)\s*")
BASH_BLOCK = re.compile(r"^```bash[^\n]*\n(.*?)^```", re.M | re.S)


def bash_commands(markdown: str) -> list[str]:
    """The commands of the ```bash blocks, in order; a trailing backslash joins lines."""
    commands = []
    for block in BASH_BLOCK.findall(markdown):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(command.strip())
    return commands


def runnable(command: str) -> str | None:
    """The command as the test runs it, or None when it is in SKIPPED."""
    command = SETUP.sub("", command)
    if any(re.search(pattern, command) for pattern, _ in SKIPPED):
        return None
    return command


def test_bash_blocks_are_found_and_skips_are_explained():
    readme = (ROOT / "README.md").read_text()
    commands = bash_commands(readme) + bash_commands(CONTINUED_IN.read_text())
    assert any("spam repro" in c for c in commands)
    for pattern, _ in SKIPPED:  # no skip is kept for a command that is no longer there
        assert any(re.search(pattern, c) for c in commands), pattern
    assert runnable("spam serve --port 7861") is None
    assert runnable("bash .ci/setup && source .venv/bin/activate && spam repro") == (
        "source .venv/bin/activate && spam repro"
    )
    # sample output is tagged text: every fenced block names its language, so none is run or skipped by accident
    openings = re.findall(r"^```(.*)$", readme, re.M)[::2]
    assert all(tag.strip() for tag in openings), openings


# Its block reruns the whole pipeline on new data: it runs as a test of its own, in its own copy, beside the rest.
OWN_DATA = "## Your own messages"


def readme_parts(readme: str) -> tuple[str, str]:
    """The README without its own-data section, and that section (up to the next `## ` heading)."""
    start = readme.index(OWN_DATA)
    end = readme.find("\n## ", start + 1)
    end = len(readme) if end < 0 else end
    return readme[:start] + readme[end:], readme[start:end]


# Ignored paths that the tools a README command runs write beside the pipeline's outputs, each for its reason.
TOOL_FILES = (
    ".venv",  # the test's link to the project's venv, for `source .venv/bin/activate`
    ".hf-home/",  # the empty Hugging Face cache the copy runs with
    ".dvc/",  # DVC's own tmp, cache and config.local
    "data/cache/",  # the embedding cache (stages/common/embed_cache.py)
    "dvc_plots/",  # `dvc plots show`
    "logs/",  # each stage's run facts (timings), never a DVC output (stages/common/io.py)
    ".sample/",  # `spam repro --sample`'s own copy of the project (stages/user/sample_run.py)
)


def git_status(project: Path) -> set[str]:
    """`git status --porcelain`, ignored files included, one line per file."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=project, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(done.stdout.splitlines())


def pipeline_writes(project: Path) -> list[str]:
    """Every output dvc.yaml declares (relative paths), and dvc.lock: what a run adds to a clone."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        outs = [os.path.relpath(out.fs_path, project) for out in repo.index.outs]
    return ["dvc.lock", *outs]


def unexpected_changes(project: Path, before: set[str]) -> list[str]:
    """The `git status` lines the README's commands added that are neither the pipeline's outputs (declared, or the
    .gitignore DVC writes beside one) nor, when ignored, a file of TOOL_FILES or Python's
    bytecode cache."""
    outputs = pipeline_writes(project)

    def expected(line: str) -> bool:
        path = line[3:].rstrip("/")
        if any(path == out or path.startswith(out + "/") for out in outputs):
            return True
        if path.endswith("/.gitignore") and any(os.path.dirname(out) == path[: -len("/.gitignore")] for out in outputs):
            return True
        tool_file = any(line[3:].startswith(prefix) for prefix in TOOL_FILES) or "__pycache__/" in path
        return line.startswith("!! ") and tool_file

    return sorted(line for line in git_status(project) - before if not expected(line))


def run_readme_commands(tmp_path: Path, markdown: str, status_after_run_command: bool, **params) -> tuple[Path, str]:
    """The ```bash commands of `markdown` in order, in one bash session, in a fresh offline copy of the project
    (short training, and `params` set; a git repo with its files committed); with `status_after_run_command`,
    `dvc status` right after the first `spam repro` goes to status.txt. The script and its log stay outside the
    copy, so that its `git status` shows only what the commands did: `changes` afterwards."""
    project = copy_project(tmp_path / "project", extra=("README.md", "bench", "docs"), **LEAN_TRAINING, **params)
    (project / ".venv").symlink_to(ROOT / ".venv")  # `source .venv/bin/activate` works as written
    commands = [runnable(c) for c in bash_commands(markdown)]
    script = ["set -euo pipefail", "trap 'echo \"README command failed: $BASH_COMMAND\" >&2' ERR"]
    status_taken = not status_after_run_command
    for command in filter(None, commands):
        script += [f"echo {shlex.quote('$ ' + command)}", command]
        if "spam repro" in command and not status_taken:
            script.append("dvc status > ../status.txt")
            status_taken = True
    assert status_taken and any(commands)
    (tmp_path / "readme.sh").write_text("\n".join(script) + "\n")
    before = git_status(project)
    assert not [line for line in before if not line.startswith("!! ")], before  # committed: nothing to show
    log = tmp_path / "readme.log"  # progress stays readable while it runs: tail -f
    with log.open("w") as out:
        done = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")], cwd=project, env=offline_env(project), stdout=out, stderr=out
        )
    output = log.read_text()
    assert done.returncode == 0 and "README command failed" not in output, output[-4000:]
    (tmp_path / "changes.txt").write_text("\n".join(unexpected_changes(project, before)) + "\n")
    return project, output


def changes(tmp_path: Path) -> list[str]:
    """What run_readme_commands found in `git status` that the pipeline did not write."""
    return [line for line in (tmp_path / "changes.txt").read_text().splitlines() if line]


def test_every_readme_command_runs_offline(tmp_path):
    """Also: right after the README's run command (its first `spam repro`), `dvc status` lists only the stages
    of the encoders left out offline (bart, bert: hub ids, empty HF cache)."""
    readme, _ = readme_parts((ROOT / "README.md").read_text())
    assert any(runnable(c) is None for c in bash_commands(readme))  # the skip list is in use
    _, output = run_readme_commands(tmp_path, readme + CONTINUED_IN.read_text(), status_after_run_command=True)
    assert changes(tmp_path) == []  # no scratch file left in the project, no tracked file changed
    # The default remote of a fresh clone is empty: no `--pull`, so none of DVC's per-stage warnings about it.
    assert "Missing cache files" not in output and "Unable to pull data" not in output
    status = (tmp_path / "status.txt").read_text()
    print(status)
    listed = set(re.findall(r"^(\S+):$", status, re.M))
    left_out = {f"{stage}@{name}" for stage in ("featurize", "train", "evaluate") for name in ("bart", "bert")}
    assert listed == left_out, status  # compare and report ran over the rest, recorded by DVC


def test_readme_own_messages_commands_run_offline(tmp_path):
    """The "Your own messages" block on a fresh copy: the Kaggle-format sample and the new file are read.

    What it checks is where messages come from, so the copy trains bow alone (the main test runs them all)."""
    _, section = readme_parts((ROOT / "README.md").read_text())
    project, output = run_readme_commands(tmp_path, section, status_after_run_command=False, featurizers=["bow"])
    assert "Running stage 'prepare'" in output
    summary = json.loads((project / "data" / "prepared" / "summary.json").read_text())
    assert {"data/sources/kaggle/spam.csv", "data/sources/new/2026-11-27.csv"} <= set(summary["sources"]), summary
    # the user's two new files, which they commit (or `dvc add`), and nothing else
    assert changes(tmp_path) == ["?? data/sources/kaggle/spam.csv", "?? data/sources/new/2026-11-27.csv"]


def test_readme_names_hf_download_not_huggingface_cli():
    text = (ROOT / "README.md").read_text() + CONTINUED_IN.read_text()
    assert "huggingface-cli" not in text and "hf download" in text
    assert "huggingface-cli" not in Path(ROOT / "stages" / "common" / "model_sources.py").read_text()
    assert "huggingface-cli" not in Path(ROOT / "stages" / "user" / "spam.py").read_text()
