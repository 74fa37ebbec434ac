"""Stage 4: turn every prepared message into a feature vector, one directory per featurizer.

One stage per featurizer in `featurizers`, dispatching on its `kind`: count/tfidf (fitted on train),
transformer encoders and static models (the messages only, and for backend onnx/openvino or kind static
the model that export@NAME or distill@NAME wrote to data/encoders/NAME), and `concat`, which joins other
featurizers' outputs (data/features/PART) and encodes nothing again. What each reads is its dvc.yaml deps, through
featurizers/NAME/inputs.yaml (stages/common/featurize_inputs.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import typer

from stages.common import layout
from stages.common.cli import FeaturizerArg, MessagesOption, SplitOption, reports_errors, stage_app, stage_featurizer
from stages.common.embedding import embed
from stages.common.errors import StageError
from stages.common.features import (
    fit_concat,
    join_blocks,
    load_aligned,
    make_vectorizer,
    save_dense_features,
    save_sparse_features,
    vectorizer_to_json,
)
from stages.common.featurize_inputs import check_inputs
from stages.common.io import write_run_log
from stages.common.layout import CONCAT, MESSAGES_FILE, SPLIT_FILE
from stages.common.params import ConcatParams, EncoderParams, StaticParams, VectorizerParams, load_params

app = stage_app(__doc__)


def most_frequent_terms(texts: pd.Series, params: VectorizerParams) -> dict[str, int] | None:
    """The `max_features` most frequent terms of `texts` (None: no cut), ties at the cut going to the alphabetically
    first: scikit-learn's own cut sorts with numpy's unstable argsort, whose order among ties depends on the CPU's
    vector units, so on another machine it kept other tied terms (docs/internals.md#precision)."""
    if params.max_features is None:
        return None
    counter = make_vectorizer(params.model_copy(update={"kind": "count", "max_features": None}))
    counts = counter.fit_transform(texts)  # the counts scikit-learn ranks by (binary if params.binary)
    totals = np.asarray(counts.sum(axis=0)).ravel()  # whole numbers below 2**24: exact in float32
    kept = np.sort(np.argsort(-totals, kind="stable")[: params.max_features])  # columns are in alphabetical order
    return {term: index for index, term in enumerate(counter.get_feature_names_out()[kept])}


def vectorize(messages: pd.DataFrame, train_ids: pd.Series, params: VectorizerParams):
    """Fit the vectorizer on the train messages only, then transform all messages."""
    train_texts = messages.loc[messages["id"].isin(train_ids), "text"]
    try:
        vectorizer = make_vectorizer(params, vocabulary=most_frequent_terms(train_texts, params))
        vectorizer.fit(train_texts)
    except ValueError as exc:  # e.g. empty vocabulary with a high min_df
        raise StageError(f"cannot fit the {params.kind} vectorizer: {exc}") from None
    return vectorizer.transform(messages["text"]), vectorizer_to_json(vectorizer, params)


def non_finite(matrix: sp.spmatrix | np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(how many values are NaN or infinite, the row and the column of each), dense or sparse alike."""
    if sp.issparse(matrix):
        coo = matrix.tocoo()
        bad = ~np.isfinite(coo.data)
        return int(bad.sum()), coo.row[bad], coo.col[bad]
    rows, cols = np.nonzero(~np.isfinite(matrix))
    return len(rows), rows, cols


def refuse_non_finite(
    featurizer: str, matrix: sp.spmatrix | np.ndarray, ids: pd.Series, source: Callable[[np.ndarray], str]
) -> None:
    """StageError before anything is written when a feature is NaN or infinite: train would only see its loss
    diverge and blame the learning rate. `source` says where they came from, given their columns."""
    count, rows, cols = non_finite(matrix)
    if count:
        first = ids.iloc[int(rows[0])]
        raise StageError(
            f"featurize.{featurizer}: {count:,} feature value{'s are' if count != 1 else ' is'} not finite (NaN or "
            f"infinite), in {len(np.unique(rows)):,} message(s), first {first}: {source(cols)}; nothing written"
        )


def concatenate(
    messages: pd.DataFrame, train_ids: pd.Series, params: ConcatParams, features_root: Path, featurizer: str
):
    """Join the parts' saved outputs (rows in `messages` order); returns (matrix, concat.json state)."""
    blocks = []
    for part in params.parts:
        try:
            blocks.append(load_aligned(features_root / part, messages["id"]))
        except (FileNotFoundError, ValueError) as exc:
            raise StageError(f"concat part {part!r}: {exc} (run: dvc repro featurize@{part})") from None
        where = (features_root / part).as_posix()
        refuse_non_finite(
            featurizer,
            blocks[-1],
            messages["id"],
            lambda _, w=where, p=part: f"from {w} (run: dvc repro -f featurize@{p})",
        )
    train_rows = messages["id"].isin(train_ids).to_numpy()
    state = fit_concat(blocks, train_rows, params.parts, params.block_weights)
    joined = join_blocks(blocks, state)
    ends = np.cumsum([block.shape[1] for block in blocks])  # each part's columns end here

    def overflowing(cols: np.ndarray) -> str:
        part = int(np.searchsorted(ends, cols.min(), side="right"))
        return (
            f"featurize.{featurizer}.weights {params.block_weights} times part {params.parts[part]}'s values "
            "overflow float32 (largest 3.4e38): lower the weights"
        )

    refuse_non_finite(featurizer, joined, messages["id"], overflowing)
    return joined, state


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    messages_file: MessagesOption = MESSAGES_FILE,
    split_file: SplitOption = SPLIT_FILE,
    output: Path = typer.Option(
        None, help=f"default: {layout.FEATURES_DIR}/FEATURIZER (concat: its parts are read beside it)"
    ),
    cache_dir: Path = typer.Option(layout.EMBEDDING_CACHE, help="embedding cache (transformer and static kinds)"),
    chunk_size: int = typer.Option(512, min=1, help="messages per cache chunk: the most a kill can lose"),
) -> None:
    """Featurize all messages with FEATURIZER (params: featurize.FEATURIZER)."""
    under_dvc = featurizer is None
    featurizer = stage_featurizer(featurizer)
    params = load_params()
    settings = params.featurizer(featurizer)
    if under_dvc:  # DVC hashed the files that featurizers/NAME/inputs.yaml names: they must be what it reads
        check_inputs(params, featurizer)
    output = output or layout.features_dir(featurizer)
    messages = pd.read_parquet(messages_file)
    started = time.perf_counter()
    if isinstance(settings, EncoderParams | StaticParams):  # independent of the split: a split change embeds nothing
        matrix, run = embed(messages["text"].tolist(), settings, featurizer, cache_dir, chunk_size)
        # Half precision overflows where float32 does not; in float32/64 only the model itself is to blame.
        fix = "check the model" if run.dtype in ("float32", "float64") else f"set featurize.{featurizer}.dtype: float32"
        source = f"the encoder's vectors ({run.source}, {run.dtype} on {run.device}): {fix}"
        refuse_non_finite(featurizer, matrix, messages["id"], lambda _: source)
        # Only what the inputs determine: a forced rerun writes the same bytes, so nothing downstream reruns.
        # The engine is left out: local and ray write the same vectors, so the same card (no retrain downstream).
        params_card = settings.model_dump(mode="json", exclude={"engine"})
        card = {"params": params_card, "model_fingerprint": run.model_fingerprint}
        if run.exported_fingerprint is not None:  # backend onnx/openvino: which exported files made them
            card["exported_fingerprint"] = run.exported_fingerprint
        save_dense_features(output, messages["id"], matrix, {**card, "dims": int(matrix.shape[1])})
        facts = asdict(run)
    else:
        split = pd.read_parquet(split_file)
        train_ids = split.loc[split["split"] == "train", "id"]
        if isinstance(settings, ConcatParams):
            matrix, state = concatenate(messages, train_ids, settings, output.parent, featurizer)
            save_sparse_features(output, messages["id"], matrix, state | {"params": settings.model_dump()}, CONCAT)
        else:
            matrix, state = vectorize(messages, train_ids, settings)
            refuse_non_finite(featurizer, matrix, messages["id"], lambda _: f"the {settings.kind} vectorizer")
            save_sparse_features(output, messages["id"], matrix, state)
        facts = {"messages": int(matrix.shape[0])}
    write_run_log("featurize", featurizer, {**facts, "seconds": round(time.perf_counter() - started, 3)})
    typer.echo(f"wrote {output}: {matrix.shape[0]:,} messages x {matrix.shape[1]:,} features")


if __name__ == "__main__":
    app()
