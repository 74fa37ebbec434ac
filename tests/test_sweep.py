"""Parameter sweeps through DVC's experiment queue, as the README shows them, on the sample data."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.sample_project import LEAN_TRAINING, copy_project, offline_env, run

pytestmark = pytest.mark.slow

RATES = (0.05, 0.1, 0.2)
TARGET = "evaluate@tfidf"


def experiments(show: list[dict]) -> dict[str, dict]:
    """{experiment name: its data} from `dvc exp show --json` (the workspace and baseline rows left out)."""
    found = {}
    for row in show:
        for group in row.get("experiments") or []:
            for rev in group.get("revs", []):
                found[rev.get("name") or rev["rev"]] = rev["data"]
    return found


def wait_for_queue(project, limit_s: float = 1200) -> str:
    """Until no task is queued or running (a guard of `limit_s`, not a speed check); the last status."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = run(project, "dvc", "queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            return status
        time.sleep(5)
    raise AssertionError(f"the queue did not finish in {limit_s} s:\n{status}")


def test_a_queued_learning_rate_sweep_runs_two_at_a_time(tmp_path):
    """The README's sweep with the target evaluate@tfidf, as offline users run it (bart and bert cannot be
    built here): each experiment reruns train@tfidf and evaluate@tfidf and takes the rest from the cache."""
    project = copy_project(tmp_path / "project", **LEAN_TRAINING)
    run(project, "dvc", "repro", TARGET)  # the baseline, committed: experiments start from it
    run(project, "git", "add", "-A")
    run(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline")
    try:
        queued = run(project, "dvc", "exp", "run", "--queue", "-S", "train.tfidf.lr=0.05,0.1,0.2", TARGET)
        assert queued.count("Queued experiment") == 3, queued
        run(project, "dvc", "queue", "start", "-j", "2")
        status = wait_for_queue(project)
        assert status.count("Success") == 3, status
        shown = subprocess.run(
            ["dvc", "exp", "show", "--json"], cwd=project, env=offline_env(project), capture_output=True, text=True
        )
        found = experiments(json.loads(shown.stdout))
        rates = sorted(data["params"]["params.yaml"]["data"]["train"]["tfidf"]["lr"] for data in found.values())
        assert rates == list(RATES), found.keys()
        for data in found.values():
            metrics = data["metrics"]["reports/metrics/tfidf.json"]["data"]
            assert 0 < metrics["test"]["mcc"] <= 1
    finally:
        run(project, "dvc", "queue", "stop", "--kill", check=False)  # no worker outlives the test
    print(run(project, "dvc", "queue", "status"))
