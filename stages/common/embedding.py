"""The embedding core: vectors for texts from a transformer encoder (any backend) or a static model, through
the verified on-disk cache.

The featurize stage calls it for every `kind: transformer` and `kind: static` featurizer; bench/embed.py
measures it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from stages.common.embed_cache import CachedVectors, EmbeddingCache, text_keys
from stages.common.params import EncoderParams, StaticParams

if TYPE_CHECKING:
    from tqdm import tqdm


@dataclass
class EmbedRun:
    """One embed run's facts: they vary with the machine and the cache, so they go to a run log
    (logs/featurize/NAME.json), never into the hashed features directory."""

    messages: int
    cache_hits: int
    encoded: int
    device: str  # what encoded this run's misses (or would have: all hits)
    dtype: str
    source: str  # where the model loaded from: a directory or a hub id
    revision: str | None  # the resolved hub commit, when it came from the hub
    model_fingerprint: str
    exported_fingerprint: str | None = None  # backend onnx/openvino: the export@NAME files' id


# texts (and a progress bar to advance) -> one float32 vector per text, in order
EncodeFn = Callable[[list[str], "tqdm | None"], np.ndarray]


@dataclass
class VectorSource:
    """What `embed` knows of an encoder before loading it (the cache's key, the vectors' width, the run's
    facts), and how to load it, which only a cache miss pays for."""

    setting: str  # the embedding cache's key: embed_cache.EmbeddingCache.setting
    dims: int
    run: EmbedRun  # with the counts still zero
    load: Callable[[], EncodeFn]


def transformer_source(params: EncoderParams, featurizer: str, exported: Path | None = None) -> VectorSource:
    """A `kind: transformer` encoder, any backend (its export in `exported`, default data/encoders/NAME)."""
    from stages.common.backends import encoder_dir, export_fingerprint
    from stages.common.encoders import encode, encoder_cache_key, hidden_size, load_encoder, pick_device, resolve_dtype
    from stages.common.model_sources import resolve_model

    source = resolve_model(params, featurizer)
    if params.backend != "torch":
        exported = exported or encoder_dir(featurizer)
    picked = pick_device(params.dtype)
    device = picked if exported is None else "cpu"  # onnxruntime and OpenVINO: the CPU
    run = EmbedRun(
        messages=0,
        cache_hits=0,
        encoded=0,
        device=str(device),
        dtype=str(resolve_dtype(params.dtype, picked)).removeprefix("torch."),
        source=source.location,
        revision=source.revision,
        model_fingerprint=source.fingerprint,
        exported_fingerprint=export_fingerprint(exported) if exported is not None else None,
    )

    def load() -> EncodeFn:
        encoder = load_encoder(params, featurizer, source, exported)
        return lambda texts, bar: encode(encoder, texts, bar)

    setting = encoder_cache_key(params, source, exported)
    return VectorSource(setting, hidden_size(source), run, load)


def static_source(params: StaticParams, featurizer: str, directory: Path | None = None) -> VectorSource:
    """A `kind: static` model, distilled by distill@NAME into `directory` (default data/encoders/NAME)."""
    from stages.common.backends import encoder_dir
    from stages.common.static_encoder import load_static, static_cache_key, static_dims, static_fingerprint

    directory = directory or encoder_dir(featurizer)
    fingerprint = static_fingerprint(directory)
    run = EmbedRun(0, 0, 0, "cpu", "float32", str(directory), None, fingerprint)

    def load() -> EncodeFn:
        encode = load_static(directory)

        def encode_and_count(texts: list[str], bar) -> np.ndarray:
            vectors = encode(texts)
            if bar is not None:
                bar.update(len(texts))
            return vectors

        return encode_and_count

    return VectorSource(static_cache_key(directory), static_dims(directory), run, load)


def embed(
    texts: list[str],
    params: EncoderParams | StaticParams,
    featurizer: str,
    cache_root: Path,
    chunk_size: int = 512,
    model_dir: Path | None = None,
) -> tuple[np.ndarray, EmbedRun]:
    """Vectors for all texts, encoding only those not in the cache (verified on read). `model_dir`: where
    export@NAME or distill@NAME wrote the model, default data/encoders/NAME (torch backend: unused)."""
    from tqdm import tqdm

    if isinstance(params, StaticParams):
        vectors = static_source(params, featurizer, model_dir)
    else:
        vectors = transformer_source(params, featurizer, model_dir)
    cache = EmbeddingCache(cache_root, vectors.setting, vectors.dims)
    cached = cache.load()
    for problem in cache.dropped:
        typer.echo(f"warning: dropped cache chunk {problem}; its messages are encoded again", err=True)
    keys = text_keys(texts)
    misses = cached.rows(keys) < 0
    _, first = np.unique(keys, return_index=True)
    missing_rows = np.sort(first[misses[first]])  # each uncached text once, in input order
    missing = keys[missing_rows]
    run = replace(vectors.run, messages=len(texts), cache_hits=int((~misses).sum()), encoded=len(missing))
    typer.echo(f"{featurizer}: {run.cache_hits:,} cache hits, {run.encoded:,} to encode")
    if len(missing):
        if getattr(params, "engine", "local") == "ray":  # an actor pool through Ray Data, into the same cache
            from stages.common.model_sources import resolve_model
            from stages.common.ray_engine import encode_with_ray

            source = resolve_model(params, featurizer)
            new_keys, new_vectors = encode_with_ray(
                texts, keys, missing_rows, params, featurizer, source, cache, chunk_size
            )
        else:
            encode = vectors.load()
            new = []
            with tqdm(total=len(missing), unit="msg", desc=f"embed {featurizer}") as bar:
                for start in range(0, len(missing), chunk_size):
                    rows = missing_rows[start : start + chunk_size]
                    chunk = encode([texts[i] for i in rows], bar)
                    cache.add(keys[rows], chunk)  # a finished chunk survives a kill
                    new.append(chunk)
            new_keys, new_vectors = missing, np.concatenate(new)
        cached = CachedVectors.of(
            np.concatenate([cached.keys, new_keys]), np.concatenate([cached.vectors, new_vectors])
        )
    return cached.vectors[cached.rows(keys)], run
