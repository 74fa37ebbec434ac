"""Dense featurizers through the real loading code, with a tiny random BERT saved locally."""

from __future__ import annotations

import errno
import socket

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from stages.common.embed_cache import EmbeddingCache, arrow_to_keys, arrow_to_vectors
from stages.common.embedding import embed
from stages.common.encoders import (
    cpu_has_amx,
    encode,
    encoder_cache_key,
    hidden_size,
    load_encoder,
    pooled_states,
    resolve_dtype,
)
from stages.common.errors import StageError
from stages.common.model_sources import resolve_model
from stages.common.params import EncoderParams
from stages.common.precision import EMBEDDING_BITS, round_to_bits
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
    return EncoderParams(
        **{"kind": "transformer", "model": str(model_dir), "dtype": "float32", "batch_size": 4} | overrides
    )


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


def test_vectors_are_rounded_to_12_significant_bits(tiny_bert):
    """A float64 kernel's noise crosses a 12-bit rounding boundary 2**12 times less often than a float32 one
    (docs/internals.md#precision); tiny coordinates keep their own scale."""
    encoder = load_encoder(params_for(tiny_bert, dtype="float64"), "tiny")
    raw = pooled_states(encoder, texts(12))
    vectors = encode(encoder, texts(12))
    assert vectors.dtype == np.float32
    mantissa, _ = np.frexp(vectors.astype(np.float64))
    assert np.array_equal(np.ldexp(mantissa, EMBEDDING_BITS), np.round(np.ldexp(mantissa, EMBEDDING_BITS)))
    assert np.all(np.abs(vectors - raw) <= np.abs(raw) * 2.0**-EMBEDDING_BITS)
    tiny = np.array([1e-32, -3e-30, 0.0])  # MiniLM has coordinates this small, signal once standardised
    assert np.allclose(round_to_bits(tiny), tiny, rtol=2.0**-EMBEDDING_BITS, atol=0)


def test_cls_pooling_differs_from_mean(tiny_bert):
    mean = encode(load_encoder(params_for(tiny_bert), "tiny"), ["free prize now"])
    cls = encode(load_encoder(params_for(tiny_bert, pooling="cls"), "tiny"), ["free prize now"])
    assert mean.shape == cls.shape and not np.allclose(mean, cls)


def test_cache_encodes_only_new_messages(any_encoder, tmp_path):
    params = any_encoder
    first, run = embed(texts(30), params, "tiny", tmp_path, chunk_size=8)
    assert run.encoded == 30 and run.cache_hits == 0
    again, run = embed(texts(30), params, "tiny", tmp_path, chunk_size=8)
    assert run.encoded == 0 and np.array_equal(first, again)
    more, run = embed(
        texts(30) + ["urgent claim now", "see you at lunch", "urgent claim now"], params, "tiny", tmp_path
    )
    assert run.encoded == 2 and run.cache_hits == 30
    assert np.array_equal(more[:30], first) and np.array_equal(more[30], more[32])  # input order, repeats
    _, run = embed(texts(30), params.model_copy(update={"max_length": 16}), "tiny", tmp_path)
    assert run.encoded == 30  # another setting, another cache


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
    resumed, run = embed(texts(30), params, "tiny", tmp_path / "crashy", chunk_size=8)
    assert run.cache_hits == 16 and run.encoded == 14
    assert np.array_equal(resumed, reference)
    leftovers = [p.name for p in (tmp_path / "crashy").rglob("*.tmp")]
    assert leftovers == []


def cache_of(params: EncoderParams, root) -> EmbeddingCache:
    source = resolve_model(params, "tiny")
    return EmbeddingCache(root, encoder_cache_key(params, source), hidden_size(source))


def chunk_files(params: EncoderParams, root) -> list:
    return sorted(cache_of(params, root).directory.glob("chunk-*.parquet"))


def test_corrupt_chunk_is_reported_and_reencoded(tiny_bert, tmp_path, capsys):
    params = params_for(tiny_bert)
    reference, _ = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    chunks = chunk_files(params, tmp_path)
    chunks[0].write_bytes(chunks[0].read_bytes()[:50])  # truncated
    chunks[1].write_bytes(b"garbage" * 100)
    capsys.readouterr()
    vectors, run = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    assert run.encoded == 8 and np.allclose(vectors, reference, atol=1e-6)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all(chunk.name in " ".join(warnings) for chunk in chunks[:2])


def test_flipped_bytes_inside_a_chunk_are_caught(tiny_bert, tmp_path, capsys):
    """Three bytes flipped in a chunk's vector data still parse as floats: only the digest catches them."""
    params = params_for(tiny_bert)
    reference, _ = embed(texts(12), params, "tiny", tmp_path / "clean", chunk_size=4)
    embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    chunk = chunk_files(params, tmp_path)[1]
    data = bytearray(chunk.read_bytes())
    at = next(data.find(row.tobytes()) for row in reference if data.find(row.tobytes()) > 0)  # a stored vector
    for offset in (at + 1, at + 6, at + 11):  # inside three of its floats: still valid numbers
        data[offset] ^= 0x40
    chunk.write_bytes(bytes(data))
    stored = arrow_to_vectors(pq.read_table(chunk).column("vector"))  # still a readable Parquet file ...
    assert len(stored) == 4 and not all((stored[i] == reference).all(1).any() for i in range(4))  # ... now wrong
    capsys.readouterr()
    vectors, run = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    assert f"warning: dropped cache chunk {chunk.name}: content does not match" in capsys.readouterr().err
    assert run.encoded == 4 and np.array_equal(vectors, reference)


def test_chunk_of_the_wrong_dimension_is_dropped(tiny_bert, tmp_path, capsys):
    params = params_for(tiny_bert)
    reference, _ = embed(texts(8), params, "tiny", tmp_path, chunk_size=4)
    cache = cache_of(params, tmp_path)
    first = cache.load()
    wrong = EmbeddingCache(tmp_path, cache.setting, cache.dims + 1)  # same directory, a well-formed chunk
    wrong.add(first.keys[:2], np.ones((2, cache.dims + 1), np.float32))
    capsys.readouterr()
    vectors, run = embed(texts(8), params, "tiny", tmp_path, chunk_size=4)
    assert f"-d vectors, expected {cache.dims}-d" in capsys.readouterr().err
    assert run.encoded == 0 and np.array_equal(vectors, reference)
    assert len(chunk_files(params, tmp_path)) == 2


def test_replaced_weights_in_a_local_directory_are_encoded_again(tmp_path):
    model = save_tiny_bert(tmp_path / "model", seed=0)
    params = params_for(model)
    before, _ = embed(texts(8), params, "tiny", tmp_path / "cache")
    save_tiny_bert(model, seed=1)  # same path, same config and tokenizer, other weights
    after, run = embed(texts(8), params, "tiny", tmp_path / "cache")
    assert run.encoded == 8 and not np.allclose(before, after)
    fresh, _ = embed(texts(8), params, "tiny", tmp_path / "fresh-cache")
    assert np.array_equal(after, fresh)


def test_float64_is_the_default_and_auto_picks_bf16_only_with_amx():
    assert EncoderParams(kind="transformer", model="m").dtype == "float64"
    assert resolve_dtype("float64", torch.device("cpu")) == torch.float64
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if cpu_has_amx() else torch.float32)
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16


def test_missing_model_offline_fails_without_the_network_naming_it(monkeypatch):
    """Offline, a missing model is refused without a single connection (no retries, no waiting on a host)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = EncoderParams(kind="transformer", model="no-such-org/no-such-model")
    connections = []

    def connect(sock, address, *args):
        connections.append(address)
        raise OSError("test: no connections")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: connect(None, host))  # DNS first
    with pytest.raises(StageError) as error:
        load_encoder(params, "bert")
    assert connections == []
    assert "no-such-org/no-such-model" in str(error.value) and "featurize.bert.model" in str(error.value)
    assert "(hf download no-such-org/no-such-model)" in str(error.value)  # the command huggingface_hub installs


def test_real_minilm_loads_offline_from_the_checked_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = EncoderParams(kind="transformer", model="sentence-transformers/all-MiniLM-L6-v2", dtype="float32")
    encoder = load_encoder(params, "minilm")
    vectors = encode(encoder, ["Free prize! Call now", "Congratulations, you won a prize", "See you at lunch"])
    assert vectors.shape == (3, 384)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # a real model: spam is nearer spam than lunch


def test_float64_mode_pools_in_float64_and_stores_float32(tmp_path):
    """The default mode runs the model in float64 and rounds the pooled vector once, to 12 significant bits: the
    same as the float32 mode to about 1e-3, and keyed apart from it in the cache (docs/internals.md#precision)."""
    model = save_tiny_bert(tmp_path / "model", seed=0)
    exact, fast = (
        load_encoder(params_for(model).model_copy(update={"dtype": d}), "tiny") for d in ("float64", "float32")
    )
    assert exact.model.dtype == torch.float64 and fast.model.dtype == torch.float32
    assert encoder_cache_key(exact.params, exact.source) != encoder_cache_key(fast.params, fast.source)
    vectors = encode(exact, texts(8))
    assert vectors.dtype == np.float32 and np.allclose(vectors, encode(fast, texts(8)), atol=1e-5)
    batch = exact.tokenizer(texts(8)[:1], return_tensors="pt")
    with torch.inference_mode():
        pooled = exact.model(**batch).last_hidden_state.mean(1)[0].numpy()
    assert np.array_equal(vectors[0], round_to_bits(pooled))  # one rounding, after pooling in float64


def test_non_finite_vectors_in_a_chunk_with_a_valid_name_are_reported_and_reencoded(tiny_bert, tmp_path, capsys):
    """NaN written into a chunk, renamed to its new bytes' sha256: the digest holds, the vectors are poison.
    Served as hits, training then blamed the learning rate (issue 24)."""
    params = params_for(tiny_bert)
    reference, _ = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    cache = cache_of(params, tmp_path)
    chunk = chunk_files(params, tmp_path)[1]
    table = pq.read_table(chunk)
    keys, vectors = table.column("key").combine_chunks(), arrow_to_vectors(table.column("vector")).copy()
    vectors[2, 3], vectors[0, 0] = np.nan, np.inf
    chunk.unlink()
    cache.add(arrow_to_keys(keys), vectors)  # named by its own sha256, as any good chunk
    poisoned = chunk_files(params, tmp_path)
    assert len(poisoned) == 3 and chunk not in poisoned
    capsys.readouterr()
    result, run = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "2 values that are not finite" in warnings[0], warnings
    (dropped,) = set(poisoned) - set(chunk_files(params, tmp_path))
    assert dropped.name in warnings[0]
    assert run.encoded == 4 and np.isfinite(result).all() and np.array_equal(result, reference)


def test_a_read_only_cache_serves_a_run_of_hits(tiny_bert, tmp_path, monkeypatch):
    """Every vector a hit, the cache directory read-only (a shared or mounted cache): nothing needs writing,
    so the run works (issue 24). Only a miss needs write access. Root ignores chmod: writes are refused too."""
    from stages.common import embed_cache

    params = params_for(tiny_bert)
    reference, _ = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)

    def read_only(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(embed_cache, "write_json", read_only)
    monkeypatch.setattr(embed_cache, "write_bytes", read_only)
    try:
        vectors, run = embed(texts(12), params, "tiny", tmp_path, chunk_size=4)
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert run.cache_hits == 12 and run.encoded == 0 and np.array_equal(vectors, reference)
