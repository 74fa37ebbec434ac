"""Every tracked output is the same bytes on any CPU: featurize (a dense encoder, a sparse vectorizer), train
and evaluate rerun under other kernels than the first run's, and every output's hash in dvc.lock stays.

Other CPUs are simulated on this one by choosing the kernels (docs/internals.md#precision): PyTorch's vector
width (ATEN_CPU_CAPABILITY), MKL's code path (MKL_CBWR), OpenBLAS's (OPENBLAS_CORETYPE: numpy's and scipy's
BLAS), numpy's own SIMD loops (NPY_DISABLE_CPU_FEATURES) and the thread count.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, SAMPLE
from tests.sample_project import copy_project, offline_env, ran_stages, run

pytestmark = pytest.mark.slow

FEATURIZERS = ["bow", "minilm"]  # one sparse, one dense (the real all-MiniLM-L6-v2, from its PyPI copy)
STAGES = [f"{stage}@{name}" for name in FEATURIZERS for stage in ("featurize", "train", "evaluate")]
OTHER_CPUS = {
    "no vector units, one thread": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Sandybridge",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR X86_V3",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    },
    "AVX2, two threads": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OMP_NUM_THREADS": "2",
    },
    "AVX-512, three threads": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "OPENBLAS_CORETYPE": "SkylakeX",
        "OMP_NUM_THREADS": "3",
    },
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample project after one run of the stages under test, with this machine's own kernels."""
    project = copy_project(tmp_path_factory.mktemp("cpu") / "project", featurizers=FEATURIZERS)  # full training
    run(project, "dvc", "repro", *[f"evaluate@{name}" for name in FEATURIZERS])
    return project


def output_hashes(project) -> dict[str, str]:
    """{stage: {output path: md5}} from dvc.lock: what a forced rerun rewrites when any byte changes."""
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {name: {out["path"]: out["md5"] for out in stage.get("outs", [])} for name, stage in stages.items()}


def runnable_here(cpu: str) -> bool:
    """A simulated CPU can only lower the vector units: forcing AVX-512 kernels on a CPU without them (AMD EPYC
    Milan, say) dies of SIGILL, whatever the code. torch reports the best this CPU runs."""
    import torch

    return OTHER_CPUS[cpu].get("ATEN_CPU_CAPABILITY") != "avx512" or torch.backends.cpu.get_cpu_capability() == "AVX512"


@pytest.mark.parametrize("cpu", OTHER_CPUS)
def test_another_cpu_writes_the_same_bytes(sample, cpu):
    if not runnable_here(cpu):
        pytest.skip(f"{cpu}: this CPU has no AVX-512 to simulate it with")
    before = output_hashes(sample)
    shutil.rmtree(sample / "data" / "cache", ignore_errors=True)  # encode again, under these kernels
    # A kernel setting the machine already makes (OPENBLAS_CORETYPE, on CPUs that old OpenBLAS builds misjudge) stays.
    kernels = {key: value for key, value in OTHER_CPUS[cpu].items() if key not in os.environ}
    done = subprocess.run(
        ["dvc", "repro", "--force", "--single-item", *STAGES],
        cwd=sample,
        env=offline_env(sample) | kernels,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran_stages(done.stdout) == set(STAGES)
    after = output_hashes(sample)
    changed = sorted(path for stage in STAGES for path, md5 in after[stage].items() if before[stage][path] != md5)
    assert not changed, f"{cpu}: these outputs changed: {', '.join(changed)}"
    status = run(sample, "dvc", "status", *[f"evaluate@{name}" for name in FEATURIZERS])  # and all upstream
    assert "Data and pipelines are up to date" in status, status


POOLED_STATES = """
import sys
import numpy as np
from stages.common.encoders import load_encoder, pooled_states
from stages.common.params import load_params
lines = open(sys.argv[1], encoding='utf-8').read().splitlines()
texts = [line.split('\t', 1)[1] for line in lines if '\t' in line]  # label<TAB>text
encoder = load_encoder(load_params().featurize["minilm"], "minilm")
np.save(sys.argv[2], pooled_states(encoder, texts))
"""


def test_the_embedding_rounding_is_far_coarser_than_the_kernels_noise(tmp_path):
    """The real MiniLM's unrounded vectors under this machine's kernels and under another CPU's differ by a few
    1e-15. Rounded to EMBEDDING_BITS significant bits, a value changes only when the two land on either side of
    a rounding midpoint: expected changes = sum(|difference| / rounding step). Over a million coordinates that
    must stay far below one (float32's 24 bits give about 0.15: one was seen between two real CPUs)."""
    from stages.common.precision import EMBEDDING_BITS, round_to_bits

    vectors = {}
    for cpu, kernels in {"this CPU": {}, "no vector units": OTHER_CPUS["no vector units, one thread"]}.items():
        out = tmp_path / f"{len(vectors)}.npy"
        done = subprocess.run(
            [sys.executable, "-c", POOLED_STATES, str(SAMPLE), str(out)],
            cwd=ROOT,
            env=offline_env(ROOT) | {k: v for k, v in kernels.items() if k not in os.environ},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        vectors[cpu] = np.load(out)
    here, there = vectors.values()
    difference = np.abs(here - there)
    assert difference.max() < 1e-12  # float64 kernels' noise, not another computation
    step = np.ldexp(1.0, np.frexp(here)[1] - EMBEDDING_BITS)  # the rounding step at each value
    expected_changes_per_million = (difference / step).sum() * 1e6 / here.size
    assert expected_changes_per_million < 1e-3, expected_changes_per_million
    assert np.array_equal(round_to_bits(here), round_to_bits(there))
