"""featurize.NAME.backend onnx/openvino and quantize int8 (docs/backends.md): exported offline from the local
model, pooled by the same code as torch, keyed apart in the cache, close to torch's vectors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stages.common.backends import export_encoder, export_fingerprint
from stages.common.embedding import embed
from stages.common.encoders import encode, encoder_cache_key, load_encoder
from stages.common.errors import StageError
from stages.common.model_sources import ModelSource, resolve_model
from stages.common.params import EncoderParams
from tests.conftest import ROOT
from tests.tiny_models import save_tiny_bart, save_tiny_bert

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MODES = [("onnx", "none"), ("onnx", "int8"), ("openvino", "none"), ("openvino", "int8")]
TEXTS = [
    "free prize call now",
    "ok see you at lunch tomorrow",
    "urgent! claim your prize, txt win to 80086 now",
    "lol",
    "home now? call me when you can, ok",
    "win win win free free",
]


def settings(model: Path | str, backend: str = "torch", quantize: str = "none", **extra) -> EncoderParams:
    return EncoderParams(
        kind="transformer", model=str(model), dtype="float32", backend=backend, quantize=quantize, **extra
    )


def collection(start: int, stop: int) -> list[str]:
    lines = (ROOT / "data/vendor/sms_spam/SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in lines[start:stop]]


def exported(model: Path | str, directory: Path, backend: str, quantize: str, **extra) -> EncoderParams:
    """Export as export@NAME does (calibrating on 300 messages that are not the ones compared), into `directory`."""
    params = settings(model, backend, quantize, **extra)
    directory.mkdir(parents=True)
    export_encoder(params, "test", resolve_model(params, "test"), directory, collection(1000, 1300))
    return params


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("bert") / "model")


@pytest.mark.parametrize(("backend", "quantize"), MODES)
def test_each_backend_pools_like_torch_on_the_tiny_bert(tiny_bert, tmp_path, backend, quantize):
    params = exported(tiny_bert, tmp_path / "export", backend, quantize)
    fast = load_encoder(params, "tiny", exported=tmp_path / "export")
    torch_vectors = encode(load_encoder(settings(tiny_bert), "tiny"), TEXTS)
    vectors = encode(fast, TEXTS)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    # float32 exports are the same computation (rounding apart); int8 costs accuracy, bounded here
    assert cosines(vectors, torch_vectors).min() >= (0.9999 if quantize == "none" else 0.99)


def test_bart_exports_the_states_torch_pools(tmp_path):
    """Encoder-decoder models: the full model's states by default, the encoder's with hidden_states: encoder."""
    bart = save_tiny_bart(tmp_path / "bart")
    for states in ("full", "encoder"):
        params = exported(bart, tmp_path / states, "onnx", "none", hidden_states=states)
        vectors = encode(load_encoder(params, "tiny", exported=tmp_path / states), TEXTS)
        torch_vectors = encode(load_encoder(settings(bart, hidden_states=states), "tiny"), TEXTS)
        assert cosines(vectors, torch_vectors).min() >= 0.9999


def test_the_cache_key_holds_backend_quantize_and_the_exported_files(tiny_bert, tmp_path):
    source = ModelSource(str(tiny_bert), None, False, "sha256:weights")
    torch_key = encoder_cache_key(settings(tiny_bert), source)
    assert torch_key == "sha256:weights|mean|128|full|torch.float32|bits=12"  # the torch key has no backend part
    keys = set()
    for backend, quantize in MODES:
        (tmp_path / backend / quantize).mkdir(parents=True)
        (tmp_path / backend / quantize / "model.bin").write_bytes(b"weights")
        keys.add(encoder_cache_key(settings(tiny_bert, backend, quantize), source, tmp_path / backend / quantize))
    (tmp_path / "onnx" / "int8" / "model.bin").write_bytes(b"recalibrated")
    keys.add(encoder_cache_key(settings(tiny_bert, "onnx", "int8"), source, tmp_path / "onnx" / "int8"))
    assert len(keys | {torch_key}) == len(MODES) + 2


def test_embed_caches_the_exported_model_s_vectors_apart(tiny_bert, tmp_path):
    params = exported(tiny_bert, tmp_path / "export", "onnx", "int8")
    vectors, run = embed(TEXTS, params, "tiny", tmp_path / "cache", model_dir=tmp_path / "export")
    assert run.encoded == len(TEXTS) and run.exported_fingerprint == export_fingerprint(tmp_path / "export")
    torch_vectors, torch_run = embed(TEXTS, settings(tiny_bert), "tiny", tmp_path / "cache")
    assert torch_run.cache_hits == 0 and torch_run.exported_fingerprint is None  # not served the int8 vectors
    again, rerun = embed(TEXTS, params, "tiny", tmp_path / "cache", model_dir=tmp_path / "export")
    assert rerun.cache_hits == len(TEXTS) and np.array_equal(again, vectors)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"quantize": "int8"}, "quantize: int8 needs backend: onnx or openvino"),
        ({"backend": "onnx", "dtype": "float64"}, "set dtype: float32"),
        ({"backend": "openvino", "dtype": "float32", "engine": "ray"}, "set engine: local"),
    ],
)
def test_params_refuse_modes_that_do_not_exist(extra, message):
    from stages.common.params import validate_params
    from tests.conftest import real_params

    raw = real_params()
    raw["featurize"]["minilm"] |= extra
    with pytest.raises(StageError, match=message):
        validate_params(raw)


def test_the_defaults_stay_torch_float64():
    params = EncoderParams(kind="transformer", model="m")
    assert (params.backend, params.quantize, params.dtype) == ("torch", "none", "float64")


def test_a_missing_export_names_the_stage_to_run(tiny_bert, tmp_path):
    with pytest.raises(StageError, match=r"dvc repro export@tiny"):
        load_encoder(settings(tiny_bert, "onnx"), "tiny", exported=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "quantize"), MODES)
def test_real_minilm_stays_within_cosine_099_of_torch(tmp_path, backend, quantize):
    """The acceptance bound on the real weights (the `minilm` extra), on the collection's first messages."""
    texts = collection(0, 200)
    params = exported(MINILM, tmp_path / "export", backend, quantize)
    vectors = encode(load_encoder(params, "minilm", exported=tmp_path / "export"), texts)
    torch_vectors = encode(load_encoder(settings(MINILM), "minilm"), texts)
    assert cosines(vectors, torch_vectors).mean() >= 0.99


def run_export(workdir: Path, name: str) -> subprocess.CompletedProcess:
    """export@NAME as DVC runs it (DVC_STAGE), offline, in `workdir` (its params.yaml and data files)."""
    environment = {"DVC_STAGE": f"export@{name}", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PATH": ""}
    command = [sys.executable, "-m", "stages.export", "--messages-file", "messages.parquet"]
    return subprocess.run(
        [*command, "--split-file", "split.parquet"], cwd=workdir, env=environment, capture_output=True, text=True
    )


def test_the_export_stage_calibrates_openvino_int8_on_train_messages_only(tiny_bert, tmp_path):
    import pandas as pd

    from tests.conftest import real_params, write_params

    params = real_params()
    params["featurize"]["fast"] = {**settings(tiny_bert, "openvino", "int8").model_dump(mode="json")}
    write_params(tmp_path, params)
    ids = [f"m{i}" for i in range(len(TEXTS))]
    pd.DataFrame({"id": ids, "text": TEXTS, "label": 0}).to_parquet(tmp_path / "messages.parquet")
    pd.DataFrame({"id": ids, "split": ["train"] * 4 + ["test"] * 2}).to_parquet(tmp_path / "split.parquet")
    done = run_export(tmp_path, "fast")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "data/encoders/fast").glob("model.*")) == ["model.bin", "model.xml"]
    from stages.export import calibration_texts

    assert sorted(calibration_texts(tmp_path / "messages.parquet", tmp_path / "split.parquet")) == sorted(TEXTS[:4])
    refused = run_export(tmp_path, "minilm")  # backend torch: nothing to export
    assert refused.returncode != 0 and refused.stderr.strip().splitlines() == [
        "error: featurize.minilm has no backend to export to (backend: onnx or openvino)"
    ]
