"""`featurize.<name>.engine: ray`: the same vectors as the local engine, and a kill -9 resumes.

Each test starts and stops its own Ray on 127.0.0.1: the first through the featurize stage itself (no
RAY_ADDRESS: it starts a local Ray and shuts it down), the second joins a Ray started by this module's
fixture (RAY_ADDRESS), so that killing the featurize driver leaves no Ray processes behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages.common.errors import StageError
from stages.common.ray_engine import check_ray_address
from tests.conftest import featurize_process, finish, tiny_encoder_workdir

ray = pytest.importorskip("ray", reason='the ray extra: pip install -e ".[ray]"')
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/sample/SMSSpamCollection.sample"
CHUNK = 25
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The sample (3 numbered copies); params for a tiny BERT, local (`tiny`) or through Ray (`tiny_ray`)."""
    lines = [line.split("\t", 1) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    sample = list(dict.fromkeys(text for _, text in lines))
    texts = [f"{text} {copy}" for copy in range(3) for text in sample]  # enough chunks to kill mid-run
    featurizers = {"tiny": {}, "tiny_ray": {"engine": "ray"}}
    return tiny_encoder_workdir(tmp_path_factory.mktemp("ray"), featurizers, texts, 0)


def featurize(workdir: Path, featurizer: str, cache: str, output: str, **env: str) -> subprocess.Popen:
    return featurize_process(workdir, featurizer, cache, output, CHUNK, **env)


def vectors(directory: Path) -> tuple[list[str], np.ndarray]:
    table = pd.read_parquet(directory / "embeddings.parquet")
    return table["id"].tolist(), np.stack(table["vector"])


def counts(log: str) -> tuple[int, int]:
    found = re.search(r"([\d,]+) cache hits, ([\d,]+) to encode", log)
    return tuple(int(n.replace(",", "")) for n in found.groups())


def chunks(cache: Path) -> list[Path]:
    return list(cache.rglob("chunk-*.parquet"))


@pytest.fixture(scope="module")
def reference(workdir) -> tuple[list[str], np.ndarray]:
    finish(featurize(workdir, "tiny", "cache-local", "local"))
    return vectors(workdir / "local")


@pytest.fixture(scope="module")
def cluster():
    """A Ray head on 127.0.0.1 owned by this test module; its address goes to the stage as RAY_ADDRESS."""
    context = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:  # the process ended meanwhile
            continue
    return found


def test_ray_engine_gives_the_local_vectors_and_the_same_card(workdir, reference):
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    try:  # starts and stops its own local Ray, whose processes name their session directory under ray_tmp
        log = finish(featurize(workdir, "tiny_ray", "cache-ray", "ray", RAY_TMPDIR=ray_tmp))
        assert "(ray, " in log
        assert Path(ray_tmp, "ray").is_dir()  # the Ray it started lived there
        deadline = time.monotonic() + 30
        while processes_mentioning(ray_tmp) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not processes_mentioning(ray_tmp), "Ray processes left behind by the featurize stage"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    ids, matrix = vectors(workdir / "ray")
    assert ids == reference[0]
    assert np.abs(matrix - reference[1]).max() < TOLERANCE
    local_card = (workdir / "local" / "encoder.json").read_text()
    assert (workdir / "ray" / "encoder.json").read_text() == local_card  # the engine is not part of the output
    again = finish(featurize(workdir, "tiny_ray", "cache-ray", "ray-again"))
    assert counts(again) == (len(ids), 0)  # all from the cache: Ray not needed, nothing encoded


def test_ray_engine_resumes_after_kill_9(workdir, reference, cluster):
    cache = workdir / "cache-kill"
    process = featurize(workdir, "tiny_ray", cache.name, "killed", RAY_ADDRESS=cluster)
    while len(chunks(cache)) < 3 and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "featurize finished before the kill"
    assert not (workdir / "killed").exists()
    survived = sum(len(pd.read_parquet(c)) for c in chunks(cache))
    assert 0 < survived < len(reference[0])
    log = finish(featurize(workdir, "tiny_ray", cache.name, "resumed", RAY_ADDRESS=cluster))
    assert counts(log) == (survived, len(reference[0]) - survived), log  # only the missing rows encoded
    ids, matrix = vectors(workdir / "resumed")
    assert ids == reference[0]
    assert np.abs(matrix - reference[1]).max() < TOLERANCE
    assert not list(cache.rglob("*.tmp"))


def test_an_unreachable_ray_address_is_one_error_line_naming_it():
    """RAY_ADDRESS=127.0.0.1:1 (nothing listens): Ray retried past 240 s; now one error within a deadline.
    In a child process (60 s: a hang guard, not a timing assert), as the featurize stage meets it."""
    script = (
        "from stages.common.errors import StageError\nfrom stages.common.ray_engine import ray_session\n"
        "try:\n    with ray_session():\n        pass\nexcept StageError as exc:\n    print(f'error: {exc}')\n"
    )
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "RAY_ADDRESS=127.0.0.1:1" in errors[0], done.stdout + done.stderr


def test_a_ray_address_that_accepts_and_stays_silent_is_one_error_within_the_deadline():
    """A port that accepts and never answers (a firewall's tarpit, another program) held ray.init without end:
    the gRPC greeting gets no reply in time. The real head above answers it (the kill -9 test joins it)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(StageError, match=rf"RAY_ADDRESS={address} \(no answer in 0.5 s\)"):
            check_ray_address(address, deadline=0.5)
