"""Embeddings travel through a DVC remote: clone A has every model, encodes and pushes; clone B lacks one
model (a tiny local BERT directory it does not have, hub offline), pulls, and trains without encoding.

The same round trip through an SSH remote, against a real OpenSSH server started on 127.0.0.1 by the test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.sample_project import DEFAULT_REMOTE, copy_project, ran_stages, run
from tests.tiny_models import save_tiny_bart, save_tiny_bert

pytestmark = pytest.mark.slow
ENCODERS = ["bart", "bert", "minilm"]
FEATURIZERS = ["bow", *ENCODERS]  # tfidf adds nothing to what this test checks
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


def clone_a(tmp_path: Path, remote: str, options: dict[str, str]) -> tuple[Path, Path]:
    """Clone A: every encoder's model (tiny local BART/BERT, MiniLM from PyPI); ran the pipeline, committed."""
    models = tmp_path / "models"
    a = copy_project(
        tmp_path / "a",
        featurizers=FEATURIZERS,
        **{
            "featurize.bart.model": str(save_tiny_bart(models / "bart")),
            "featurize.bert.model": str(save_tiny_bert(models / "bert")),
        },
    )
    use_remote(a, remote, options)
    output = run(a, "spam", "repro")
    assert {f"featurize@{name}" for name in FEATURIZERS} <= ran_stages(output)
    run(a, *GIT, "add", "-A")
    run(a, *GIT, "commit", "-qm", "results")  # dvc.lock and the cache: false reports travel through git
    return a, models / "bert"


def push_then_pull(tmp_path: Path, remote: str, options: dict[str, str]) -> dict[str, float]:
    """The two-clone round trip through `remote`; returns the push and pull times of the embeddings."""
    a, bert = clone_a(tmp_path, remote, options)
    embeddings = [f"data/features/{name}" for name in ENCODERS]
    times = {"push embeddings": timed(a, "dvc", "push", *embeddings)}
    times["push rest"] = timed(a, "dvc", "push")
    shutil.move(bert, tmp_path / "bert-elsewhere")  # B cannot load bert: the directory is not there

    b = tmp_path / "b"
    run(tmp_path, "git", "clone", "-q", str(a), str(b))
    use_remote(b, remote, options)
    times["pull embeddings"] = timed(b, "dvc", "pull", *embeddings)
    times["pull rest"] = timed(b, "dvc", "pull")
    output = run(b, "spam", "repro")  # the README's run command
    assert not {stage for stage in ran_stages(output) if stage.startswith("featurize@")}, output
    assert "left out" not in output, output
    for name in FEATURIZERS:
        for path in (f"data/models/{name}/model.safetensors", f"data/models/{name}/card.json"):
            assert (b / path).read_bytes() == (a / path).read_bytes(), path
        metrics = f"reports/metrics/{name}.json"
        assert (b / metrics).read_bytes() == (a / metrics).read_bytes(), metrics
    assert "Data and pipelines are up to date" in run(b, "dvc", "status"), run(b, "dvc", "status")
    return times


def test_clone_without_a_model_pulls_its_vectors_and_encodes_nothing(tmp_path):
    times = push_then_pull(tmp_path, str(tmp_path / "remote"), {})
    print("local remote:", ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))


def test_repro_pulls_the_vectors_of_a_model_it_cannot_load(tmp_path):
    """No `dvc pull` first: `spam repro` itself pulls bert's vectors instead of leaving bert out."""
    remote = str(tmp_path / "remote")
    a, bert = clone_a(tmp_path, remote, {})
    run(a, "dvc", "push")
    shutil.move(bert, tmp_path / "bert-elsewhere")
    b = tmp_path / "b"
    run(tmp_path, "git", "clone", "-q", str(a), str(b))
    use_remote(b, remote, {})
    output = run(b, "spam", "repro")
    assert "featurize@bert" not in ran_stages(output) and "left out" not in output, output
    assert "bert" in next(line for line in output.splitlines() if "pulled from the DVC remote" in line)
    path = "data/models/bert/model.safetensors"
    assert (b / path).read_bytes() == (a / path).read_bytes()
    assert "Data and pipelines are up to date" in run(b, "dvc", "status")


# --- SSH --------------------------------------------------------------------------------------------------

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if Path(p).exists()), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    port = free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keys / 'host'}\nPidFile {keys / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.1)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield {"url": f"ssh://{user}@127.0.0.1:{port}{tmp_path / 'ssh-remote'}", "keyfile": str(keys / "client")}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_ssh_remote_round_trip(tmp_path, ssh_server):
    pytest.importorskip("dvc_ssh", reason="the `ssh` extra (dvc-ssh) is not installed: pip install -e '.[ssh]'")
    started = time.monotonic()
    times = push_then_pull(tmp_path, ssh_server["url"], {"keyfile": ssh_server["keyfile"]})
    print(
        "ssh remote:",
        ", ".join(f"{k} {v:.2f} s" for k, v in times.items()),
        f"; test wall {time.monotonic() - started:.1f} s",
    )
