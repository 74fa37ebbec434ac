"""An unreachable ssh:// default remote (issue 24): `spam repro` needs the remote only to pull, so an up-to-date
project runs without contacting it; when it must pull, the contact has a deadline, after which it goes on
without pulling and says so in one line."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unused_port
from tests.sample_project import LEAN_TRAINING, copy_project, offline_env, ran_stages, run

pytestmark = pytest.mark.slow  # runs the pipeline up to train@bow once


@contextlib.contextmanager
def silent_server(lifetime: float = 120) -> Iterator[tuple[int, list[socket.socket]]]:
    """127.0.0.1:PORT accepts connections and never sends a byte; the accepted sockets are counted. It stops
    when the test ends, or after `lifetime` seconds whatever happens."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        stop = threading.Timer(lifetime, done.set)
        stop.start()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(server.accept()[0])
        stop.cancel()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        done.set()
        thread.join(timeout=5)
        for sock in [*accepted, server]:
            sock.close()


def spam_repro(project: Path) -> subprocess.CompletedProcess:
    # 60 s: a hang guard (a server that never answers held DVC for 126 s), not a timing assert
    return subprocess.run(
        ["spam", "repro", "train@bow"],
        cwd=project,
        env=offline_env(project),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def up_to_date(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("unreachable") / "p", featurizers=["bow"], **LEAN_TRAINING)
    run(project, "spam", "repro", "train@bow")
    return project


def use_ssh_remote(project: Path, port: int) -> None:
    run(project, "dvc", "remote", "modify", "--local", "local", "url", f"ssh://127.0.0.1:{port}/srv/dvc")


def test_up_to_date_with_a_refusing_ssh_remote_runs_nothing_and_exits_0(up_to_date):
    use_ssh_remote(up_to_date, unused_port())  # connection refused
    done = spam_repro(up_to_date)
    assert done.returncode == 0 and not ran_stages(done.stdout), done.stdout + done.stderr


def test_up_to_date_with_a_silent_ssh_remote_never_contacts_it(up_to_date):
    with silent_server() as (port, accepted):
        use_ssh_remote(up_to_date, port)
        done = spam_repro(up_to_date)
    assert done.returncode == 0 and not ran_stages(done.stdout), done.stdout + done.stderr
    assert not accepted  # every output is here: no reason to ask the remote


def test_a_missing_output_with_a_silent_remote_is_rebuilt_after_one_note(up_to_date):
    shutil.rmtree(up_to_date / "data" / "models" / "bow")
    with silent_server() as (port, accepted):
        use_ssh_remote(up_to_date, port)
        done = spam_repro(up_to_date)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    notes = [line for line in output.splitlines() if "did not answer" in line]
    assert len(notes) == 1 and f"127.0.0.1:{port}" in notes[0] and notes[0].startswith("note:"), output
    assert len(accepted) == 1 and (up_to_date / "data" / "models" / "bow" / "model.safetensors").exists()
