"""featurize.NAME.kind: static (docs/backends.md#static): distilled offline by distill@NAME, embedded through
the same cache and Parquet outputs, and featurized at predict time without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stages.common.embedding import embed
from stages.common.errors import StageError
from stages.common.features import load_features, save_dense_features
from stages.common.params import StaticParams
from stages.common.precision import round_to_bits
from tests.conftest import ROOT, real_params, write_params
from tests.tiny_models import save_tiny_bert

TEXTS = ["free prize call now", "ok see you at lunch tomorrow", "win win free txt", "lol", "free prize call now"]


def distilled(workdir: Path, name: str = "tiny_static") -> StaticParams:
    """distill@NAME run as DVC runs it (DVC_STAGE), on a tiny BERT, in `workdir` (its params.yaml)."""
    model = save_tiny_bert(workdir / "tiny-bert")
    params = real_params()
    params["featurize"][name] = {"kind": "static", "model": str(model), "pca_dims": 16}
    write_params(workdir, params)
    environment = {"DVC_STAGE": f"distill@{name}", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "stages.distill"], cwd=workdir, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return StaticParams.model_validate(params["featurize"][name])


@pytest.fixture(scope="module")
def static_project(tmp_path_factory) -> tuple[Path, StaticParams]:
    workdir = tmp_path_factory.mktemp("static")
    return workdir, distilled(workdir)


def test_distill_writes_a_static_model_that_embeds_through_the_cache(static_project, monkeypatch):
    workdir, params = static_project
    monkeypatch.chdir(workdir)
    assert (workdir / "data/encoders/tiny_static/model.safetensors").is_file()
    vectors, run = embed(TEXTS, params, "tiny_static", workdir / "cache")
    assert vectors.shape == (len(TEXTS), 16) and vectors.dtype == np.float32
    assert run.encoded == len(TEXTS) - 1 and run.device == "cpu"  # the repeated text once
    assert np.array_equal(vectors[0], vectors[-1]) and not np.array_equal(vectors[0], vectors[1])
    assert np.array_equal(round_to_bits(vectors), vectors)  # rounded as every embedding is: CPU sums don't show
    again, rerun = embed(TEXTS, params, "tiny_static", workdir / "cache")
    assert rerun.cache_hits == len(TEXTS) and np.array_equal(again, vectors)


def test_a_missing_static_model_names_the_stage_to_run(tmp_path):
    params = StaticParams(kind="static", model="m")
    with pytest.raises(StageError, match=r"dvc repro distill@absent"):
        embed(TEXTS, params, "absent", tmp_path / "cache", model_dir=tmp_path / "absent")


PREDICT_WITHOUT_TORCH = """
import sys
from pathlib import Path
from stages.user.predictor import text_featurizer
vectors = text_featurizer("tiny_static", Path("data/features"))(["free prize call now", "lunch?"])
print(vectors.shape, sorted(m for m in ("torch", "transformers", "onnxruntime") if m in sys.modules))
"""


def test_predict_featurizes_a_static_featurizer_without_importing_torch(static_project, monkeypatch):
    """What `spam predict` loads for a static featurizer: its encoder.json, then the model2vec model only."""
    workdir, params = static_project
    monkeypatch.chdir(workdir)
    vectors, run = embed(TEXTS, params, "tiny_static", workdir / "cache")
    card = {"params": params.model_dump(mode="json"), "model_fingerprint": run.model_fingerprint}
    ids = __import__("pandas").Series([f"m{i}" for i in range(len(TEXTS))])
    save_dense_features(workdir / "data/features/tiny_static", ids, vectors, card)
    assert json.loads((workdir / "data/features/tiny_static/encoder.json").read_text())["params"]["kind"] == "static"
    assert np.array_equal(load_features(workdir / "data/features/tiny_static")[1], vectors)
    done = subprocess.run(
        [sys.executable, "-c", PREDICT_WITHOUT_TORCH],
        cwd=workdir,
        env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(2,", "16)", "[]"]  # no torch, transformers or onnxruntime in the process


def test_static_params_are_strict():
    from stages.common.params import validate_params

    raw = real_params()
    raw["featurize"]["minilm_static"] = {"kind": "static", "model": "m", "pca_dims": 0}
    with pytest.raises(StageError, match="pca_dims"):
        validate_params(raw)
