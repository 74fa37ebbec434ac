"""`spam push`: `dvc push`, then every output's objects asked for on the remote, whatever push said (issue 24)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from stages.user import spam
from tests.sample_project import offline_env

DVC = [sys.executable, "-m", "dvc"]


def dvc(cwd: Path, *args: str) -> str:
    done = subprocess.run([*DVC, *args], cwd=cwd, env=offline_env(cwd), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_push_names_an_output_file_the_remote_lacks_though_dvc_push_exits_0(tmp_path, monkeypatch):
    """One file's object is deleted from the remote after a push: `dvc status -c` still says in sync (it trusts
    the directory's manifest), and `spam push`, with a `dvc push` that sends nothing and exits 0, names it."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc(tmp_path, "init", "-q")
    remote = tmp_path.parent / f"{tmp_path.name}-remote"
    dvc(tmp_path, "remote", "add", "-d", "local", str(remote))
    features = tmp_path / "data" / "features" / "bow"
    features.mkdir(parents=True)
    for name in ("matrix.npz", "rows.parquet"):
        (features / name).write_text(f"{name}\n")
    dvc(tmp_path, "add", "data/features/bow")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    pushed = runner.invoke(spam.app, ["push"])
    assert pushed.exit_code == 0 and "holds every output" in pushed.output, pushed.output

    import hashlib

    lost = hashlib.md5(b"rows.parquet\n").hexdigest()
    (remote / "files" / "md5" / lost[:2] / lost[2:]).unlink()
    assert "in sync" in dvc(tmp_path, "status", "-c")  # DVC's own check misses it
    monkeypatch.setattr(spam, "run_in_foreground", lambda command: 0)  # a push that exits 0 and sends nothing
    checked = runner.invoke(spam.app, ["push"])
    assert checked.exit_code == 1, checked.output
    assert checked.output.strip().splitlines() == [
        "error: the DVC remote lacks 1 output file(s) after dvc push: data/features/bow/rows.parquet; "
        "run spam push again"
    ]
