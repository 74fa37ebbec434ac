"""`spam repro --sample`: the real pipeline on data/sample, in a copy of the project with its own outputs.

The copy (default .sample/, which .gitignore and .dvcignore leave out) gets the project's code, params.yaml and
dvc.yaml afresh on every run, pointed at the sample data with short training; its outputs, dvc.lock and DVC
cache stay between runs, so a second run reruns only what changed, as in the project itself. It has its own
(empty) DVC remote: nothing is pulled from or pushed to the project's. The project's own outputs, dvc.lock and
params.yaml are never read or written. tests/sample_project.py builds its test projects from the same parts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from stages.common.errors import StageError

SAMPLE_DIR = Path(".sample")  # inside the project: listed in .gitignore and .dvcignore
SAMPLE_DATA = Path("data/sample/SMSSpamCollection.sample")  # the first 400 lines of the collection
DEFAULT_REMOTE = "local"  # its name in .dvc/config
MARKER = ".spam-sample"  # marks a folder as a sample copy: only such a folder is refreshed (files replaced)

# What a user's clone holds before any run: code, params, pipeline, DVC config and the input data.
PROJECT_FILES = [
    "stages",
    "featurizers",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    "data/vendor",
    "data/sample",
    "data/sources",
    "reports/seeds.json",  # committed by bench/seeds.py; compare quotes it
]


def lean_training(featurizers: list[str]) -> dict[str, int]:
    """Short training (params.yaml keys, dotted): runs that show the pipeline works, not how good it is."""
    return {"fahrenheit.iterations": 300, "cars_train.epochs": 200} | {
        f"train.{name}.epochs": 40 for name in featurizers
    }


@dataclass
class SampleCopy:
    directory: Path

    @property
    def compare_md(self) -> Path:
        return self.directory / "reports" / "compare.md"

    @property
    def report_html(self) -> Path:
        return self.directory / "reports" / "index.html"


class _NoAliasDumper(yaml.SafeDumper):
    """params.yaml refuses YAML aliases, which PyYAML writes for an object that appears twice."""

    def ignore_aliases(self, data) -> bool:
        return True


def set_params(project: Path, changes: dict[str, object]) -> None:
    """Set dotted keys (`train.bow.epochs`) in project/params.yaml."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
    (project / "params.yaml").write_text(yaml.dump(params, Dumper=_NoAliasDumper, sort_keys=False))


def copy_files(root: Path, copy: Path, names: list[str]) -> None:
    """Each of `names` from root into copy, replacing what the copy held under that name."""
    for name in names:
        source, target = root / name, copy / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def sample_download(root: Path, sources: list[str] | None = None) -> dict[str, object]:
    """params.yaml changes that make download read the sample (or `sources`, which should end with it)."""
    return {
        "download.sources": sources or [SAMPLE_DATA.as_posix()],
        "download.sha256": hashlib.sha256((root / SAMPLE_DATA).read_bytes()).hexdigest(),
    }


def sync_featurizers(copy: Path) -> None:
    """The copy's featurizers/NAME/inputs.yaml files in step with its params (as `spam sync`)."""
    from stages.common.featurize_inputs import sync_inputs
    from stages.common.params import load_params

    sync_inputs(load_params(copy / "params.yaml"), root=copy)


def check_sample_dir(root: Path, copy: Path) -> None:
    """Refuse a folder whose files a refresh would replace, or one the project's DVC would see as its own."""
    root, copy = root.resolve(), copy.resolve()
    if copy == root or copy in root.parents:
        raise StageError(f"--sample-dir {copy} holds the project itself: give a new or empty folder")
    if root in copy.parents and copy != root / SAMPLE_DIR:
        raise StageError(
            f"--sample-dir {copy} is inside the project, whose DVC would then see its dvc.yaml: inside, only "
            f"{SAMPLE_DIR}/ (the default) is left out by .dvcignore; or give a folder outside the project"
        )
    if copy.is_file():
        raise StageError(f"--sample-dir {copy} is a file: give a folder")
    if copy.is_dir() and any(copy.iterdir()) and not (copy / MARKER).is_file():
        raise StageError(
            f"--sample-dir {copy} holds files and is not a sample copy (no {MARKER}): give a new or empty folder"
        )


def prepare_sample_copy(root: Path, copy: Path) -> SampleCopy:
    """Make or refresh the sample copy of the project at root: fresh project files, kept outputs."""
    check_sample_dir(root, copy)
    copy.mkdir(parents=True, exist_ok=True)
    (copy / MARKER).write_text(
        f"A copy of the project at {root.resolve()} that `spam repro --sample` runs on data/sample.\n"
        "Its project files are replaced on every run; its outputs, dvc.lock and DVC cache are kept.\n"
    )
    copy_files(root, copy, PROJECT_FILES)
    featurizers = yaml.safe_load((copy / "params.yaml").read_text())["featurizers"]
    set_params(copy, sample_download(root) | lean_training(featurizers))
    sync_featurizers(copy)
    if not (copy / ".git").exists():  # DVC wants a git repository, and dvclive (train) a commit in it
        run_quietly(copy, ["git", "init", "-q"])
        identity = ["-c", "user.name=spam repro --sample", "-c", "user.email=sample@spamneuron.invalid"]
        run_quietly(copy, ["git", *identity, "commit", "-q", "--allow-empty", "-m", "the sample copy"])
    # Its own DVC remote, empty: the project's remote holds nothing of the sample's, and gets nothing from it.
    run_quietly(copy, [sys.executable, "-m", "dvc", "remote", "modify", "--local", DEFAULT_REMOTE, "url", "remote"])
    return SampleCopy(copy)


def run_quietly(cwd: Path, command: list[str]) -> None:
    done = subprocess.run(command, cwd=cwd, env=sample_env(), capture_output=True, text=True)
    if done.returncode:
        raise StageError(f"{' '.join(command[-4:])} failed in {cwd}: {(done.stderr or done.stdout).strip()}")


def sample_env() -> dict[str, str]:
    """The environment of the copy's run: the pipeline's `python` is the one running this (activated or not)."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def repro_command(targets: list[str], force: bool) -> list[str]:
    """`spam repro` as the copy runs it: with the copy's own code (python -m, in the copy's folder)."""
    return [sys.executable, "-m", "stages.user.spam", "repro", *targets, *(["--force"] if force else [])]


def leaderboard(compare_md: Path) -> str:
    """The first table of compare.md (one row per featurizer), with the line after it when it says partial."""
    lines = compare_md.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    after = [line for line in lines[end : end + 2] if line.startswith("Partial")]
    return "\n".join([*lines[start:end], *after])


def where_outputs_are(sample: SampleCopy, shown_from: Path) -> str:
    """The closing lines of a sample run: where to look, then the metrics table."""
    folder = os.path.relpath(sample.directory, shown_from)
    return "\n".join(
        [
            f"sample run done: outputs in {folder}/ (report: {folder}/reports/index.html; "
            f"tables: {folder}/reports/compare.md; models: {folder}/data/models/)",
            "test metrics on the sample's test split (short training: it shows the pipeline runs):",
            "",
            leaderboard(sample.compare_md),
        ]
    )
