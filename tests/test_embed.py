"""Dense featurizers through the real loading code, with a tiny random BERT saved locally."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stages.common.cli import StageError
from stages.common.embed_cache import EmbeddingCache
from stages.common.encoders import encode, encoder_cache_key, load_encoder
from stages.common.params import EncoderParams
from stages.featurize import embed
from tests.tiny_models import WORDS, save_tiny_bart, save_tiny_bert


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory):
    return save_tiny_bart(tmp_path_factory.mktemp("tiny-bart"))


# (model fixture, hidden_states): BERT, and BART pooled over the full model's or the encoder's states.
ENCODERS = [("tiny_bert", "full"), ("tiny_bart", "full"), ("tiny_bart", "encoder")]


@pytest.fixture(params=ENCODERS, ids=lambda e: f"{e[0]}-{e[1]}")
def any_encoder(request) -> EncoderParams:
    model_fixture, hidden_states = request.param
    return params_for(request.getfixturevalue(model_fixture), hidden_states=hidden_states)


def params_for(model_dir, **overrides) -> EncoderParams:
    return EncoderParams(kind="transformer", model=str(model_dir), dtype="float32", batch_size=4, **overrides)


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 30))) + f" {i}" for i in range(n)]


def test_tiny_tokenizers_split_words_into_known_tokens(tiny_bert, tiny_bart):
    for directory in (tiny_bert, tiny_bart):
        tokenizer = load_encoder(params_for(directory), "tiny").tokenizer
        ids = tokenizer("free prize now lunch")["input_ids"]
        assert tokenizer.unk_token_id not in ids and len(ids) > 4, (directory, ids)


def test_masked_mean_ignores_padding(any_encoder):
    encoder = load_encoder(any_encoder, "tiny")
    alone = encode(encoder, ["free prize"])
    beside_long = encode(encoder, ["free prize", " ".join(WORDS * 5)])
    assert np.abs(alone[0] - beside_long[0]).max() < 1e-5


def test_bart_hidden_states_choice_changes_the_model(tiny_bart):
    full = load_encoder(params_for(tiny_bart), "bart")
    encoder_only = load_encoder(params_for(tiny_bart, hidden_states="encoder"), "bart")
    assert type(full.model).__name__ == "BartModel" and type(encoder_only.model).__name__ == "BartEncoder"
    assert not np.allclose(encode(full, ["free prize now"]), encode(encoder_only, ["free prize now"]))


def test_cls_pooling_differs_from_mean(tiny_bert):
    mean = encode(load_encoder(params_for(tiny_bert), "tiny"), ["free prize now"])
    cls = encode(load_encoder(params_for(tiny_bert, pooling="cls"), "tiny"), ["free prize now"])
    assert mean.shape == cls.shape and not np.allclose(mean, cls)


def test_cache_encodes_only_new_messages(any_encoder, tmp_path):
    params = any_encoder
    first, stats = embed(texts(30), params, "tiny", tmp_path, chunk_size=8)
    assert stats["encoded"] == 30 and stats["cache_hits"] == 0
    again, stats = embed(texts(30), params, "tiny", tmp_path, chunk_size=8)
    assert stats["encoded"] == 0 and np.array_equal(first, again)
    _, stats = embed(texts(30) + ["urgent claim now", "see you at lunch"], params, "tiny", tmp_path)
    assert stats["encoded"] == 2
    _, stats = embed(texts(30), params.model_copy(update={"max_length": 16}), "tiny", tmp_path)
    assert stats["encoded"] == 30  # another setting, another cache


def test_resume_after_crash_gives_identical_vectors(tiny_bert, tmp_path, monkeypatch):
    params = params_for(tiny_bert)
    reference, _ = embed(texts(30), params, "tiny", tmp_path / "clean", chunk_size=8)
    real_add, calls = EmbeddingCache.add, []

    def crash_after_two(self, keys, vectors):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        calls.append(len(keys))
        real_add(self, keys, vectors)

    monkeypatch.setattr(EmbeddingCache, "add", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        embed(texts(30), params, "tiny", tmp_path / "crashy", chunk_size=8)
    monkeypatch.setattr(EmbeddingCache, "add", real_add)
    resumed, stats = embed(texts(30), params, "tiny", tmp_path / "crashy", chunk_size=8)
    assert stats["cache_hits"] == 16 and stats["encoded"] == 14
    assert np.array_equal(resumed, reference)
    leftovers = [p.name for p in (tmp_path / "crashy").rglob("*.tmp")]
    assert leftovers == []


def test_corrupt_chunk_is_reported_and_reencoded(tiny_bert, tmp_path):
    params = params_for(tiny_bert)
    reference, _ = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    cache = EmbeddingCache(tmp_path, encoder_cache_key(params))
    chunks = sorted(cache.directory.glob("chunk-*.parquet"))
    chunks[0].write_bytes(chunks[0].read_bytes()[:50])  # truncated
    chunks[1].write_bytes(b"garbage" * 100)
    vectors, stats = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    assert stats["encoded"] == 8 and np.allclose(vectors, reference, atol=1e-6)


def test_missing_model_offline_fails_fast_naming_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = EncoderParams(kind="transformer", model="no-such-org/no-such-model")
    started = time.monotonic()
    with pytest.raises(StageError) as error:
        load_encoder(params, "bert")
    assert time.monotonic() - started < 5
    assert "no-such-org/no-such-model" in str(error.value) and "featurize.bert.model" in str(error.value)


def test_real_minilm_loads_offline_from_the_checked_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = EncoderParams(kind="transformer", model="sentence-transformers/all-MiniLM-L6-v2", dtype="float32")
    encoder = load_encoder(params, "minilm")
    vectors = encode(encoder, ["Free prize! Call now", "Congratulations, you won a prize", "See you at lunch"])
    assert vectors.shape == (3, 384)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # a real model: spam is nearer spam than lunch
