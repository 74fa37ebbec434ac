"""A throwaway copy of the project pointed at the sample data, for end-to-end tests (offline)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from stages.user.sample_run import (
    DEFAULT_REMOTE,
    PROJECT_FILES,
    copy_files,
    lean_training,
    sample_download,
    set_params,
    sync_featurizers,
)
from tests.conftest import ROOT, SAMPLE, unused_port

FEATURIZERS = yaml.safe_load((ROOT / "params.yaml").read_text())["featurizers"]  # with the concat ones
# Short training, for tests about where outputs come from rather than how good they are.
LEAN_TRAINING = lean_training(FEATURIZERS)


def offline_env(cwd: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(cwd / ".hf-home"),  # an empty HF cache: only local directories and PyPI copies load
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }


def run(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(args, cwd=cwd, env=offline_env(cwd), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0 or not check, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def set_param(project: Path, dotted: str, value) -> None:
    set_params(project, {dotted: value})


def copy_project(copy: Path, extra: tuple[str, ...] = (), **params) -> Path:
    """The project's files (no outputs, no lock) in a fresh git repo, pointed at the sample data.

    Its default DVC remote is an empty directory beside it (in .dvc/config.local), never the user's
    ~/.cache one; `extra` names more of the project's files to copy (e.g. README.md, bench).
    """
    copy_files(ROOT, copy, [*PROJECT_FILES, *extra])
    sample = SAMPLE.relative_to(ROOT).as_posix()
    # The UCI source is replaced by a closed local port so the fall-through is exercised offline.
    set_params(copy, sample_download(ROOT, [f"http://127.0.0.1:{unused_port()}/sms.zip", sample]) | params)
    sync_featurizers(copy)  # as `spam sync`, for featurizers added above
    (copy / ".gitignore").write_text((ROOT / ".gitignore").read_text() + ".hf-home/\n")
    run(copy, "git", "init", "-q")
    run(copy, "dvc", "remote", "modify", "--local", DEFAULT_REMOTE, "url", str(copy.parent / f"{copy.name}-remote"))
    run(copy, "git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    run(copy, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "sample project")
    return copy
