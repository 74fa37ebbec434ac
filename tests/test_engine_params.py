"""featurize.<name>.engine: local (default) or ray, checked by the params schema before any work."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from stages.common.errors import StageError
from stages.common.params import validate_params
from tests.conftest import real_params


def test_engine_defaults_to_local_and_accepts_ray():
    params = real_params()
    assert all(getattr(s, "engine", "local") == "local" for s in validate_params(params).featurize.values())
    params["featurize"]["minilm"]["engine"] = "ray"
    assert validate_params(params).featurize["minilm"].engine == "ray"


def test_unknown_engine_is_refused_naming_the_key():
    params = real_params()
    params["featurize"]["minilm"]["engine"] = "spark"
    with pytest.raises(StageError, match=r"featurize\.minilm\.engine: Input should be 'local' or 'ray'"):
        validate_params(params)


class FakeRay:
    """What pool_size reads of a Ray cluster."""

    def __init__(self, resources: dict[str, float]) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def test_pool_has_one_actor_per_gpu_else_one_single_threaded_actor_per_cpu():
    from stages.common.ray_engine import pool_size

    assert pool_size(FakeRay({"CPU": 16.0, "GPU": 8.0})) == (8, 1.0, 1)
    assert pool_size(FakeRay({"CPU": 2.0})) == (2, 0.0, 1)
    assert pool_size(FakeRay({})) == (1, 0.0, 1)


def test_without_ray_the_engine_names_the_extra_to_install(monkeypatch):
    from stages.common.ray_engine import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(StageError, match=r'engine: ray needs Ray Data.*pip install -e "\.\[ray\]"'):
        import_ray()


def test_an_encoder_actor_encodes_its_batches_as_the_local_engine_does(tmp_path):
    """The actor Ray Data runs is plain Python: the same model load and `encode` as the local engine."""
    from stages.common.encoders import encode, load_encoder
    from stages.common.model_sources import resolve_model
    from stages.common.params import EncoderParams
    from stages.common.ray_engine import EncoderActor
    from tests.tiny_models import save_tiny_bert

    params = EncoderParams(kind="transformer", model=str(save_tiny_bert(tmp_path / "bert")), dtype="float32")
    source = resolve_model(params, "tiny")
    texts = np.array(["free prize now", "see you at lunch", "call me"], dtype=object)
    actor = EncoderActor(params.model_dump(mode="json"), "tiny", source, threads=1)
    out = actor({"row": np.array([4, 7, 9]), "text": texts})
    assert out["row"].tolist() == [4, 7, 9]
    local = encode(load_encoder(params, "tiny", source), texts.tolist())
    assert np.abs(out["vector"] - local).max() < 1e-5
