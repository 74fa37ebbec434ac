"""`spam repro --sample` (stages/user/sample_run.py): the real pipeline on data/sample in its own copy, which
leaves the project's git status, dvc status, outputs, dvc.lock and params.yaml as they were."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stages.common.errors import StageError
from stages.user.sample_run import MARKER, SAMPLE_DIR, check_sample_dir, leaderboard
from tests.conftest import ROOT
from tests.sample_project import offline_env

SPAM = [sys.executable, "-m", "stages.user.spam"]


def spam(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*SPAM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


def project_state(project: Path, env: dict[str, str]) -> dict[str, str]:
    """What a sample run must not change: git's and DVC's view of the project, and its files DVC tracks."""
    # dvc first: its first run makes .dvc/tmp/, which git's list of ignored files would then show
    dvc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=project, env=env, capture_output=True)
    git = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=project, capture_output=True, text=True)
    files = ["params.yaml", "dvc.lock", "reports/compare.md", "reports/metrics/bow.json"]
    return {
        "git status": git.stdout.replace(f"!! {SAMPLE_DIR}/\n", ""),  # the copy itself: ignored, as it should be
        "dvc status": dvc.stdout.decode() + dvc.stderr.decode(),
    } | {name: (project / name).read_text() for name in files}


@pytest.mark.slow
def test_sample_run_leaves_the_project_as_it_was(tmp_path: Path) -> None:
    """In a clone of this commit: the sample run ends with its outputs and table; git status (ignored files
    included) and dvc status of the project, and its tracked files, are the same before and after; a second
    run reruns nothing."""
    project = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(project)], check=True)
    env = offline_env(tmp_path)  # an empty Hugging Face cache outside the clone: bart and bert left out
    before = project_state(project, env)

    first = spam(project, "repro", "--sample", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running stage 'train@tfidf'" in first.stdout
    assert "note: left out bart, bert" in first.stdout
    assert "sample run done: outputs in .sample/ (report: .sample/reports/index.html;" in first.stdout
    assert first.stdout.rstrip().endswith("Partial: bart, bert left out of this run (`spam repro` says why).")
    assert "| tfidf | " in first.stdout
    assert (project / SAMPLE_DIR / "reports" / "index.html").is_file()
    assert project_state(project, env) == before

    again = spam(project, "repro", "--sample", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Running stage" not in again.stdout and "Data and pipelines are up to date." in again.stdout
    assert project_state(project, env) == before


@pytest.mark.parametrize(
    ("where", "refusal"),
    [
        (".", "holds the project itself"),
        ("..", "holds the project itself"),
        ("reports/sample", "is inside the project"),
        ("elsewhere", "holds files and is not a sample copy"),
        ("a_file", "is a file"),
    ],
)
def test_a_sample_dir_whose_files_a_refresh_would_replace_is_refused(tmp_path: Path, where: str, refusal: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("mine")
    (tmp_path / "a_file").write_text("mine")
    target = project / where if where in (".", "..", "reports/sample") else tmp_path / where
    with pytest.raises(StageError, match=refusal):
        check_sample_dir(project, target)


def test_the_default_a_new_folder_and_an_earlier_copy_are_accepted(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / MARKER).write_text("")
    for target in (project / SAMPLE_DIR, tmp_path / "new", tmp_path / "earlier"):
        check_sample_dir(project, target)


def test_a_refused_sample_dir_is_one_error_line_and_nothing_is_written(in_tmp: Path) -> None:
    """From a folder holding only params.yaml: were the folder taken, the copy would fail at once, not run."""
    (in_tmp / "notes").mkdir()
    (in_tmp / "notes" / "todo.txt").write_text("mine")
    done = spam(in_tmp, "repro", "--sample-dir", "notes", env=offline_env(in_tmp))
    assert done.returncode == 1
    assert done.stderr.startswith("error: --sample-dir ") and done.stderr.count("\n") == 1, done.stderr
    assert [p.name for p in (in_tmp / "notes").iterdir()] == ["todo.txt"]


def test_leaderboard_is_the_first_table_and_the_partial_line(tmp_path: Path) -> None:
    compare = tmp_path / "compare.md"
    compare.write_text(
        "# Title\n\nTest split: 5.\n\n| featurizer | f1 |\n| --- | --- |\n| bow | 0.5 |\n\n"
        "Partial: bart left out.\n\n## tfidf vs bow\n\n| metric | bow |\n| --- | --- |\n"
    )
    assert leaderboard(compare) == "| featurizer | f1 |\n| --- | --- |\n| bow | 0.5 |\nPartial: bart left out."
