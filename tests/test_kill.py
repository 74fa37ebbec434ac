"""`kill -9` of the embed step at seeded random moments: the rerun resumes and ends with the same vectors."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import featurize_process, finish, tiny_encoder_workdir
from tests.tiny_models import WORDS

pytestmark = pytest.mark.slow
CHUNK = 40
KILLS = 3


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory with params for one tiny encoder and 1,000 prepared messages."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(5, 60))) + f" {i}" for i in range(1000)]
    return tiny_encoder_workdir(tmp_path_factory.mktemp("kill"), {"tiny": {}}, texts, "ham")


def featurize(workdir: Path, cache: str, output: str) -> subprocess.Popen:
    return featurize_process(workdir, "tiny", cache, output, CHUNK)


def chunks(cache: Path) -> list[Path]:
    return list(cache.rglob("chunk-*.parquet"))


def test_kill_9_at_random_moments_then_resume_gives_identical_vectors(workdir):
    finish(featurize(workdir, "cache-clean", "reference"))
    reference = pd.read_parquet(workdir / "reference" / "embeddings.parquet")
    total_chunks = -(-len(reference) // CHUNK)
    rng = np.random.default_rng(1234)
    for run in range(KILLS):
        cache, output = workdir / f"cache-{run}", f"out-{run}"
        stop_after = int(rng.integers(1, total_chunks - 1))  # finished chunks before the kill
        extra_delay = float(rng.uniform(0, 0.02))  # lands the kill mid-chunk, not only between chunks
        process = featurize(workdir, cache.name, output)
        while len(chunks(cache)) < stop_after and process.poll() is None:
            time.sleep(0.002)
        time.sleep(extra_delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, f"run {run} finished before the kill; slow the encoder down"
        assert not (workdir / output).exists()  # no half-written output
        survived = sum(len(pd.read_parquet(c)) for c in chunks(cache))
        log = finish(featurize(workdir, cache.name, output))
        hits, encoded = (
            int(n.replace(",", "")) for n in re.search(r"([\d,]+) cache hits, ([\d,]+) to encode", log).groups()
        )
        assert (hits, encoded) == (survived, len(reference) - survived), log
        assert "dropped cache chunk" not in log  # renamed whole or not at all: never torn
        resumed = pd.read_parquet(workdir / output / "embeddings.parquet")
        assert resumed["id"].tolist() == reference["id"].tolist()
        assert np.array_equal(np.stack(resumed["vector"]), np.stack(reference["vector"]))
        assert not list(cache.rglob("*.tmp"))
