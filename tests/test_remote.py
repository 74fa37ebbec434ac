"""Embeddings travel through a DVC remote: clone A has every model, encodes and pushes; clone B lacks one
model (a tiny local BERT directory it does not have, hub offline), pulls, and trains without encoding.

The same round trip through an SSH remote, against a real OpenSSH server started on 127.0.0.1 by the test.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, unused_port, wait_until_listening
from tests.sample_project import DEFAULT_REMOTE, ran_stages, run

pytestmark = pytest.mark.slow
ENCODERS = ["bart", "bert", "minilm"]
FEATURIZERS = yaml.safe_load((ROOT / "params.yaml").read_text())["featurizers"]  # the session project's: all
GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t")


def timed(cwd: Path, *args: str) -> float:
    started = time.monotonic()
    run(cwd, *args)
    return time.monotonic() - started


def use_remote(clone: Path, remote: str, options: dict[str, str]) -> None:
    """Point the clone's default remote at `remote` in .dvc/config.local, as a user of a team remote would."""
    run(clone, "dvc", "remote", "modify", "--local", DEFAULT_REMOTE, "url", remote)
    for key, value in options.items():
        run(clone, "dvc", "remote", "modify", "--local", DEFAULT_REMOTE, key, value)


@pytest.fixture(scope="module")
def clone_a(project: Path, first_run: str, tmp_path_factory) -> Path:
    """Clone A: the session project, which has every encoder's model (tiny local BART/BERT, MiniLM from PyPI) and
    has run the whole pipeline, copied with its DVC cache and committed (dvc.lock and the cache: false reports
    travel through git)."""
    assert {f"featurize@{name}" for name in ENCODERS} <= ran_stages(first_run)
    a = tmp_path_factory.mktemp("clones") / "a"
    shutil.copytree(project, a, symlinks=True, ignore=shutil.ignore_patterns(".hf-home"))
    run(a, *GIT, "add", "-A")
    run(a, *GIT, "commit", "-qm", "results")
    return a


@pytest.fixture
def bert_model_away(clone_a: Path):
    """During the test, no other clone can load bert: its tiny local model directory is moved away, then back
    (the session project that A was copied from uses it again afterwards)."""
    model = Path(yaml.safe_load((clone_a / "params.yaml").read_text())["featurize"]["bert"]["model"])
    elsewhere = model.with_name(f"{model.name}-elsewhere")
    shutil.move(model, elsewhere)
    try:
        yield
    finally:
        shutil.move(elsewhere, model)


def clone_b(a: Path, b: Path, remote: str, options: dict[str, str]) -> Path:
    run(b.parent, "git", "clone", "-q", str(a), str(b))
    use_remote(b, remote, options)
    return b


def assert_same_results_and_clean(a: Path, b: Path, output: str) -> None:
    """No featurize stage ran on B, every featurizer's neuron and metrics equal A's, `dvc status` is clean."""
    assert not {stage for stage in ran_stages(output) if stage.startswith("featurize")}, output
    assert "left out" not in output, output
    for name in FEATURIZERS:
        for path in (f"data/models/{name}/model.safetensors", f"data/models/{name}/card.json"):
            assert (b / path).read_bytes() == (a / path).read_bytes(), path
        metrics = f"reports/metrics/{name}.json"
        assert (b / metrics).read_bytes() == (a / metrics).read_bytes(), metrics
    status = run(b, "dvc", "status")
    assert "Data and pipelines are up to date" in status, status


def push_then_pull(a: Path, b: Path, remote: str, options: dict[str, str]) -> dict[str, float]:
    """A pushes to `remote`; B (cannot load bert) pulls, then runs `spam repro`. Returns the times."""
    use_remote(a, remote, options)
    embeddings = [f"data/features/{name}" for name in ENCODERS]
    times = {"push embeddings": timed(a, "dvc", "push", *embeddings)}
    times["push rest"] = timed(a, "dvc", "push")
    clone_b(a, b, remote, options)
    times["pull embeddings"] = timed(b, "dvc", "pull", *embeddings)
    times["pull rest"] = timed(b, "dvc", "pull")
    assert_same_results_and_clean(a, b, run(b, "spam", "repro"))  # the README's run command
    return times


def test_clone_without_a_model_pulls_its_vectors_and_encodes_nothing(clone_a, bert_model_away, tmp_path):
    times = push_then_pull(clone_a, tmp_path / "b", str(tmp_path / "remote"), {})
    print("local remote:", ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))


def test_repro_pulls_the_vectors_of_a_model_it_cannot_load(clone_a, bert_model_away, tmp_path):
    """No `dvc pull` first: `spam repro` pulls bert's vectors itself instead of leaving bert out."""
    remote = str(tmp_path / "remote")
    use_remote(clone_a, remote, {})
    run(clone_a, "dvc", "push")
    b = clone_b(clone_a, tmp_path / "b", remote, {})
    output = run(b, "spam", "repro")
    assert "bert" in next(line for line in output.splitlines() if "pulled from the DVC remote" in line), output
    assert_same_results_and_clean(clone_a, b, output)


# --- SSH --------------------------------------------------------------------------------------------------

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if Path(p).exists()), None)


@pytest.fixture
def ssh_server(tmp_path):
    """OpenSSH's sshd on 127.0.0.1, its own config, host key and one authorized key; stopped after the test."""
    if SSHD is None:
        pytest.skip(
            "SKIPPED LOUDLY: openssh-server is not installed (apt-get install openssh-server; .ci/run installs it)"
        )
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    port = unused_port()
    config = keys / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keys / 'host'}\nPidFile {keys / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    wait_until_listening(port, server, 10)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield {"url": f"ssh://{user}@127.0.0.1:{port}{tmp_path / 'ssh-remote'}", "keyfile": str(keys / "client")}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_ssh_remote_round_trip(clone_a, bert_model_away, tmp_path, ssh_server):
    pytest.importorskip("dvc_ssh", reason="the `ssh` extra (dvc-ssh) is not installed: pip install -e '.[ssh]'")
    started = time.monotonic()
    times = push_then_pull(clone_a, tmp_path / "b", ssh_server["url"], {"keyfile": ssh_server["keyfile"]})
    print(
        "ssh remote:",
        ", ".join(f"{k} {v:.2f} s" for k, v in times.items()),
        f"; test wall {time.monotonic() - started:.1f} s",
    )
