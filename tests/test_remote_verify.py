"""The default DVC remote verifies what it pulls (issue 24)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from dvc.config import Config

from tests.conftest import ROOT
from tests.sample_project import offline_env


def test_the_default_remote_verifies_on_pull():
    """Without verify, a flipped bit in a remote object was pulled, restored and trusted: `dvc status` said up
    to date and `spam repro` ran nothing. Read through DVC's own config schema, as `dvc pull` reads it."""
    config = Config(dvc_dir=str(ROOT / ".dvc"))
    default = config["core"]["remote"]
    assert default == "local" and config["remote"][default].get("verify") is True


GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t")


def flip_one_bit(path: Path) -> str:
    """Flips a bit in the middle of `path` (a read-only DVC object) and returns its new md5."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def md5s_under(*folders: Path) -> set[str]:
    return {hashlib.md5(p.read_bytes()).hexdigest() for f in folders if f.exists() for p in f.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_flipped_bit_on_the_remote_is_refused_by_name_or_recomputed_never_trained_on(tmp_path):
    """bert's vectors are pushed, then one bit of their remote object flips. A fresh clone with no cache:
    `dvc pull` fails naming the output; `spam repro` without bert's model (it can neither recompute nor pull)
    fails with one line naming the file; with the model it recomputes a good copy. The flipped bytes never
    reach the workspace, the cache or training."""
    from tests.sample_project import copy_project, ran_stages, run
    from tests.tiny_models import save_tiny_bert

    model = save_tiny_bert(tmp_path / "bert")
    a = copy_project(
        tmp_path / "a", featurizers=["bow", "bert"], **{"featurize.bert.model": str(model), "train.bert.epochs": 40}
    )
    run(a, "spam", "repro", "train@bert")
    run(a, *GIT, "add", "-A")
    run(a, *GIT, "commit", "-qm", "results")
    remote = tmp_path / "a-remote"  # copy_project's default remote for `a`
    run(a, "dvc", "push")
    good = hashlib.md5((a / "data/features/bert/embeddings.parquet").read_bytes()).hexdigest()
    flipped = flip_one_bit(remote / "files" / "md5" / good[:2] / good[2:])

    b = tmp_path / "b"
    run(tmp_path, "git", "clone", "-q", str(a), str(b))
    run(b, "dvc", "remote", "modify", "--local", "local", "url", str(remote))
    pulled = run(b, "dvc", "pull", check=False)
    assert "data/features/bert" in pulled and "ERROR" in pulled, pulled
    assert flipped not in md5s_under(b / "data", b / ".dvc" / "cache")

    model.rename(model.with_name("bert-elsewhere"))  # b can no longer recompute bert's vectors
    refused = subprocess.run(["spam", "repro"], cwd=b, env=offline_env(b), capture_output=True, text=True)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 1 and len(errors) == 1, refused.stdout + refused.stderr
    assert "data/features/bert/embeddings.parquet" in errors[0] and "verif" in errors[0], errors
    assert not ran_stages(refused.stdout) and flipped not in md5s_under(b / "data", b / ".dvc" / "cache")

    model.with_name("bert-elsewhere").rename(model)
    output = run(b, "spam", "repro", "train@bert")
    assert "featurize@bert" in ran_stages(output), output  # recomputed: the remote's copy is never used
    assert flipped not in md5s_under(b / "data", b / ".dvc" / "cache")
