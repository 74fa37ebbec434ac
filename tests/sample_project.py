"""A throwaway copy of the project pointed at the sample data, for end-to-end tests (offline)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stages.common.featurize_inputs import sync_inputs
from stages.common.params import load_params
from tests.conftest import ROOT, SAMPLE, unused_port, write_params

# What a user's clone holds before any run: code, params, pipeline, DVC config and the input data.
PROJECT_FILES = [
    "stages",
    "featurizers",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    "data/vendor",
    "data/sample",
    "data/sources",
    "reports/seeds.json",  # committed by bench/seeds.py; compare quotes it
]


DEFAULT_REMOTE = "local"  # the name in .dvc/config
FEATURIZERS = yaml.safe_load((ROOT / "params.yaml").read_text())["featurizers"]  # with the concat ones
# Short training, for tests about where outputs come from rather than how good they are.
LEAN_TRAINING = {"fahrenheit.iterations": 300, "cars_train.epochs": 200} | {
    f"train.{name}.epochs": 40 for name in FEATURIZERS
}


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
    params = yaml.safe_load((project / "params.yaml").read_text())
    *parents, leaf = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = value
    write_params(project, params)


def copy_project(copy: Path, extra: tuple[str, ...] = (), **params) -> Path:
    """The project's files (no outputs, no lock) in a fresh git repo, pointed at the sample data.

    Its default DVC remote is an empty directory beside it (in .dvc/config.local), never the user's
    ~/.cache one; `extra` names more of the project's files to copy (e.g. README.md, bench).
    """
    for name in [*PROJECT_FILES, *extra]:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    sample = SAMPLE.relative_to(ROOT).as_posix()
    # The UCI source is replaced by a closed local port so the fall-through is exercised offline.
    set_param(copy, "download.sources", [f"http://127.0.0.1:{unused_port()}/sms.zip", sample])
    set_param(copy, "download.sha256", hashlib.sha256(SAMPLE.read_bytes()).hexdigest())
    for dotted, value in params.items():
        set_param(copy, dotted, value)
    sync_inputs(load_params(copy / "params.yaml"), root=copy)  # as `spam sync`, for featurizers added above
    (copy / ".gitignore").write_text((ROOT / ".gitignore").read_text() + ".hf-home/\n")
    run(copy, "git", "init", "-q")
    run(copy, "dvc", "remote", "modify", "--local", DEFAULT_REMOTE, "url", str(copy.parent / f"{copy.name}-remote"))
    run(copy, "git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    run(copy, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "sample project")
    return copy
