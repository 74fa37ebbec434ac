"""Stage 4: turn every prepared message into a feature vector, one directory per featurizer.

One matrix stage over `text_featurizers` that dispatches on each featurizer's `kind` (count/tfidf,
transformer encoders). A `concat` featurizer joins other featurizers' outputs (data/features/PART): it
reads them and encodes nothing again; dvc.yaml gives it its own stage, with those directories as deps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from stages.common.cli import (
    MESSAGES_FILE,
    SPLIT_FILE,
    FeaturizerArg,
    MessagesOption,
    SplitOption,
    StageError,
    reports_errors,
    stage_app,
    stage_featurizer,
)
from stages.common.embed_cache import CachedVectors, EmbeddingCache, text_keys
from stages.common.features import (
    fit_concat,
    join_blocks,
    load_aligned,
    make_vectorizer,
    save_dense_features,
    save_sparse_features,
    vectorizer_to_json,
)
from stages.common.io import write_run_log
from stages.common.layout import CONCAT
from stages.common.params import ConcatParams, EncoderParams, VectorizerParams, load_params

app = stage_app(__doc__)


def vectorize(messages: pd.DataFrame, train_ids: pd.Series, params: VectorizerParams):
    """Fit the vectorizer on the train messages only, then transform all messages."""
    vectorizer = make_vectorizer(params)
    try:
        vectorizer.fit(messages.loc[messages["id"].isin(train_ids), "text"])
    except ValueError as exc:  # e.g. empty vocabulary with a high min_df
        raise StageError(f"cannot fit the {params.kind} vectorizer: {exc}") from None
    return vectorizer.transform(messages["text"]), vectorizer_to_json(vectorizer, params)


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
        resolve_model,
    )

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
    device = pick_device()
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
    if len(missing) and params.engine == "ray":  # an actor pool through Ray Data, into the same cache
        from stages.common.ray_engine import encode_with_ray

        return encode_with_ray(texts, keys, cached, missing_rows, params, featurizer, source, cache, chunk_size), run
    if len(missing):
        encoder = load_encoder(params, featurizer, source)
        new = []
        with tqdm(total=len(missing), unit="msg", desc=f"embed {featurizer}") as bar:
            for start in range(0, len(missing), chunk_size):
                rows = missing_rows[start : start + chunk_size]
                vectors = encode(encoder, [texts[i] for i in rows], bar)
                cache.add(keys[rows], vectors)  # a finished chunk survives a kill
                new.append(vectors)
        cached = CachedVectors.of(np.concatenate([cached.keys, missing]), np.concatenate([cached.vectors, *new]))
    return cached.vectors[cached.rows(keys)], run


def concatenate(messages: pd.DataFrame, train_ids: pd.Series, params: ConcatParams, features_root: Path):
    """Join the parts' saved outputs (rows in `messages` order); returns (matrix, concat.json state)."""
    blocks = []
    for part in params.parts:
        try:
            blocks.append(load_aligned(features_root / part, messages["id"]))
        except (FileNotFoundError, ValueError) as exc:
            raise StageError(f"concat part {part!r}: {exc} (run: dvc repro featurize@{part})") from None
    train_rows = messages["id"].isin(train_ids).to_numpy()
    state = fit_concat(blocks, train_rows, params.parts, params.block_weights)
    return join_blocks(blocks, state), state


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    messages_file: MessagesOption = MESSAGES_FILE,
    split_file: SplitOption = SPLIT_FILE,
    output: Path = typer.Option(None, help="default: data/features/FEATURIZER (concat: its parts are read beside it)"),
    cache_dir: Path = typer.Option(Path("data/cache/embeddings"), help="embedding cache (transformer kinds)"),
    chunk_size: int = typer.Option(512, min=1, help="messages per cache chunk: the most a kill can lose"),
) -> None:
    """Featurize all messages with FEATURIZER (params: featurize.FEATURIZER)."""
    featurizer = stage_featurizer(featurizer)
    params = load_params()
    if featurizer not in params.featurize:
        raise StageError(f"unknown featurizer {featurizer!r}; params.yaml has: {', '.join(params.featurize)}")
    output = output or Path("data/features") / featurizer
    messages = pd.read_parquet(messages_file)
    settings = params.featurize[featurizer]
    started = time.perf_counter()
    if isinstance(settings, EncoderParams):  # independent of the split: a split change embeds nothing
        matrix, run = embed(messages["text"].tolist(), settings, featurizer, cache_dir, chunk_size)
        # Only what the inputs determine: a forced rerun writes the same bytes, so nothing downstream reruns.
        # The engine is left out: local and ray write the same vectors, so the same card (no retrain downstream).
        params_card = settings.model_dump(mode="json", exclude={"engine"})
        card = {"params": params_card, "model_fingerprint": run.model_fingerprint}
        save_dense_features(output, messages["id"], matrix, {**card, "dims": int(matrix.shape[1])})
        facts = asdict(run)
    else:
        split = pd.read_parquet(split_file)
        train_ids = split.loc[split["split"] == "train", "id"]
        if isinstance(settings, ConcatParams):
            matrix, state = concatenate(messages, train_ids, settings, output.parent)
            save_sparse_features(output, messages["id"], matrix, state | {"params": settings.model_dump()}, CONCAT)
        else:
            matrix, state = vectorize(messages, train_ids, settings)
            save_sparse_features(output, messages["id"], matrix, state)
        facts = {"messages": int(matrix.shape[0])}
    write_run_log("featurize", featurizer, {**facts, "seconds": round(time.perf_counter() - started, 3)})
    typer.echo(f"wrote {output}: {matrix.shape[0]:,} messages x {matrix.shape[1]:,} features")


if __name__ == "__main__":
    app()
