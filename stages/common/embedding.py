"""The embedding core: vectors for texts from a transformer encoder, through the verified on-disk cache.

The featurize stage calls it for every `kind: transformer` featurizer; bench/embed.py measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

from stages.common.embed_cache import CachedVectors, EmbeddingCache, text_keys
from stages.common.params import EncoderParams


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


def embed(
    texts: list[str], params: EncoderParams, featurizer: str, cache_root: Path, chunk_size: int = 512
) -> tuple[np.ndarray, EmbedRun]:
    """Vectors for all texts, encoding only those not in the cache (verified on read)."""
    from tqdm import tqdm

    from stages.common.encoders import (
        encode,
        encoder_cache_key,
        hidden_size,
        load_encoder,
        pick_device,
        resolve_dtype,
    )
    from stages.common.model_sources import resolve_model

    source = resolve_model(params, featurizer)
    cache = EmbeddingCache(cache_root, encoder_cache_key(params, source), hidden_size(source))
    cached = cache.load()
    for problem in cache.dropped:
        typer.echo(f"warning: dropped cache chunk {problem}; its messages are encoded again", err=True)
    keys = text_keys(texts)
    misses = cached.rows(keys) < 0
    _, first = np.unique(keys, return_index=True)
    missing_rows = np.sort(first[misses[first]])  # each uncached text once, in input order
    missing = keys[missing_rows]
    device = pick_device(params.dtype)
    run = EmbedRun(
        messages=len(texts),
        cache_hits=int((~misses).sum()),
        encoded=len(missing),
        device=str(device),
        dtype=str(resolve_dtype(params.dtype, device)).removeprefix("torch."),
        source=source.location,
        revision=source.revision,
        model_fingerprint=source.fingerprint,
    )
    typer.echo(f"{featurizer}: {run.cache_hits:,} cache hits, {run.encoded:,} to encode")
    if len(missing):
        if params.engine == "ray":  # an actor pool through Ray Data, into the same cache
            from stages.common.ray_engine import encode_with_ray

            new_keys, new_vectors = encode_with_ray(
                texts, keys, missing_rows, params, featurizer, source, cache, chunk_size
            )
        else:
            encoder = load_encoder(params, featurizer, source)
            new = []
            with tqdm(total=len(missing), unit="msg", desc=f"embed {featurizer}") as bar:
                for start in range(0, len(missing), chunk_size):
                    rows = missing_rows[start : start + chunk_size]
                    vectors = encode(encoder, [texts[i] for i in rows], bar)
                    cache.add(keys[rows], vectors)  # a finished chunk survives a kill
                    new.append(vectors)
            new_keys, new_vectors = missing, np.concatenate(new)
        cached = CachedVectors.of(
            np.concatenate([cached.keys, new_keys]), np.concatenate([cached.vectors, new_vectors])
        )
    return cached.vectors[cached.rows(keys)], run
