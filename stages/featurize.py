"""Stage 4: turn every prepared message into a feature vector, one directory per featurizer.

One matrix stage over `featurizers` that dispatches on each featurizer's `kind` (count/tfidf now,
transformer encoders later), so a single list in params.yaml decides what runs everywhere.
"""

from __future__ import annotations

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
from stages.common.embed_cache import EmbeddingCache, text_key
from stages.common.features import make_vectorizer, save_dense_features, save_sparse_features, vectorizer_to_json
from stages.common.params import EncoderParams, VectorizerParams, load_params

app = stage_app(__doc__)


def vectorize(messages: pd.DataFrame, train_ids: pd.Series, params: VectorizerParams):
    """Fit the vectorizer on the train messages only, then transform all messages."""
    vectorizer = make_vectorizer(params)
    try:
        vectorizer.fit(messages.loc[messages["id"].isin(train_ids), "text"])
    except ValueError as exc:  # e.g. empty vocabulary with a high min_df
        raise StageError(f"cannot fit the {params.kind} vectorizer: {exc}") from None
    return vectorizer.transform(messages["text"]), vectorizer_to_json(vectorizer, params)


def embed(texts: list[str], params: EncoderParams, featurizer: str, cache_root: Path, chunk_size: int = 512):
    """Vectors for all texts, encoding only those not in the cache; returns (vectors, stats)."""
    from tqdm import tqdm

    from stages.common.encoders import encode, encoder_cache_key, load_encoder

    cache = EmbeddingCache(cache_root, encoder_cache_key(params))
    cached = cache.load()
    for problem in cache.corrupt:
        typer.echo(f"warning: dropped unreadable cache chunk {problem}; its messages are encoded again", err=True)
    keys = [text_key(t) for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in cached))
    stats = {"messages": len(texts), "cache_hits": len(texts) - len(missing), "encoded": len(missing)}
    typer.echo(f"{featurizer}: {stats['cache_hits']:,} cache hits, {stats['encoded']:,} to encode")
    if missing:
        encoder = load_encoder(params, featurizer)
        stats |= {"source": encoder.source, "device": str(encoder.device), "dtype": str(encoder.dtype)}
        text_of = dict(zip(keys, texts, strict=True))
        with tqdm(total=len(missing), unit="msg", desc=f"embed {featurizer}") as bar:
            for start in range(0, len(missing), chunk_size):
                chunk = missing[start : start + chunk_size]
                vectors = encode(encoder, [text_of[k] for k in chunk], bar)
                cache.add(chunk, vectors)  # a finished chunk survives a kill
                cached.update(zip(chunk, vectors, strict=True))
    return np.stack([cached[k] for k in keys]), stats


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    messages_file: MessagesOption = MESSAGES_FILE,
    split_file: SplitOption = SPLIT_FILE,
    output: Path = typer.Option(None, help="default: data/features/FEATURIZER"),
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
    if isinstance(settings, EncoderParams):  # independent of the split: a split change embeds nothing
        matrix, stats = embed(messages["text"].tolist(), settings, featurizer, cache_dir, chunk_size)
        save_dense_features(output, messages["id"], matrix, {"params": settings.model_dump(mode="json"), **stats})
    else:
        split = pd.read_parquet(split_file)
        matrix, state = vectorize(messages, split.loc[split["split"] == "train", "id"], settings)
        save_sparse_features(output, messages["id"], matrix, state)
    typer.echo(f"wrote {output}: {matrix.shape[0]:,} messages x {matrix.shape[1]:,} features")


if __name__ == "__main__":
    app()
