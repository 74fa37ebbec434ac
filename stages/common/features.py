"""Feature files shared by featurize (writes them), train/evaluate (read them) and `spam predict`.

A dense featurizer directory holds `embeddings.parquet` (id, vector) and `encoder.json`.
A sparse featurizer directory holds `matrix.npz` (scipy CSR), `rows.parquet` (the message id of each
row) and `vectorizer.json` (params, vocabulary, idf): everything needed to featurize new text, no pickle.
A concat featurizer directory holds the joined `matrix.npz` and `rows.parquet`, and `concat.json` (parts,
weights, the dense blocks' train mean and std): its parts featurize new text, `join_blocks` joins them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from stages.common.embed_cache import arrow_to_vectors, vectors_to_arrow
from stages.common.errors import StageError
from stages.common.io import atomic_dir, read_json, write_json
from stages.common.layout import EMBEDDINGS, ENCODER, MATRIX, ROWS, SPLITS, VECTORIZER
from stages.common.params import VectorizerParams
from stages.common.standardise import Standardiser

if TYPE_CHECKING:  # scikit-learn (~0.7 s to import) only where a vectorizer is made: encoders never need it
    from sklearn.feature_extraction.text import CountVectorizer


def make_vectorizer(params: VectorizerParams, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    options = dict(
        analyzer=params.analyzer,
        ngram_range=tuple(params.ngram_range),
        max_features=params.max_features,
        min_df=params.min_df,
        lowercase=params.lowercase,
        binary=params.binary,
        vocabulary=vocabulary,
        dtype=np.float32,
    )
    if params.kind == "tfidf":
        return TfidfVectorizer(sublinear_tf=params.sublinear_tf, **options)
    return CountVectorizer(**options)


def vectorizer_to_json(vectorizer: CountVectorizer, params: VectorizerParams) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocabulary = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
    state = {"params": params.model_dump(mode="json"), "vocabulary": {t: int(i) for t, i in vocabulary}}
    if isinstance(vectorizer, TfidfVectorizer):
        state["idf"] = vectorizer.idf_.tolist()
    return state


def vectorizer_from_json(state: dict) -> CountVectorizer:
    """Rebuild a fitted vectorizer from its JSON state, without refitting."""
    params = VectorizerParams.model_validate(state["params"])
    vectorizer = make_vectorizer(params, vocabulary=state["vocabulary"])
    if params.kind == "tfidf":
        vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float64)
    else:
        vectorizer._validate_vocabulary()  # marks the fixed vocabulary as fitted
    return vectorizer


def save_sparse_features(
    directory: Path, ids: pd.Series, matrix: sp.csr_matrix, state: dict, card: str = VECTORIZER
) -> None:
    with atomic_dir(directory) as tmp:
        sp.save_npz(tmp / MATRIX, matrix.tocsr(), compressed=True)  # fixed zip timestamps: same bytes
        pd.DataFrame({"id": ids.to_numpy()}).to_parquet(tmp / ROWS, index=False)
        write_json(tmp / card, state)


def fit_concat(
    blocks: list[sp.csr_matrix | np.ndarray], train_rows: np.ndarray, parts: list[str], weights: list[float]
):
    """The JSON state that `join_blocks` applies: dense blocks get their train mean and std (sparse: none)."""
    stats = []
    for block in blocks:
        if sp.issparse(block):
            stats.append(None)
            continue
        scale = Standardiser.fit(block[train_rows])
        stats.append({"mean": scale.mean.tolist(), "std": scale.std.tolist()})
    return {"parts": list(parts), "weights": [float(w) for w in weights], "standardise": stats}


def join_blocks(blocks: list[sp.csr_matrix | np.ndarray], state: dict) -> sp.csr_matrix:
    """weight * block side by side; dense blocks standardised first. Sparse stays sparse (scipy.sparse.hstack)."""
    scaled = []
    for block, weight, stats in zip(blocks, state["weights"], state["standardise"], strict=True):
        if stats is None:
            scaled.append(sp.csr_matrix(block, dtype=np.float32) * np.float32(weight))
        else:
            scale = Standardiser(np.asarray(stats["mean"]), np.asarray(stats["std"]))
            dense = scale(np.asarray(block, dtype=np.float64))
            scaled.append(sp.csr_matrix((dense * weight).astype(np.float32)))
    return sp.hstack(scaled, format="csr", dtype=np.float32)


def save_dense_features(directory: Path, ids: pd.Series, vectors: np.ndarray, state: dict) -> None:
    """Parquet with `id` and a fixed-size list of float32 per message, plus the encoder's JSON card."""
    table = pa.table({"id": pa.array(ids.to_numpy(), pa.string()), "vector": vectors_to_arrow(vectors)})
    with atomic_dir(directory) as tmp:
        pq.write_table(table, tmp / EMBEDDINGS)
        write_json(tmp / ENCODER, state)


def load_features(directory: Path) -> tuple[pd.Series, sp.csr_matrix | np.ndarray]:
    """Return (ids, matrix) for any featurizer directory; rows of the matrix follow the ids."""
    directory = Path(directory)
    if (directory / EMBEDDINGS).exists():
        table = pq.read_table(directory / EMBEDDINGS)
        return pd.Series(table.column("id").to_pylist()), arrow_to_vectors(table.column("vector"))
    if not (directory / MATRIX).exists():
        raise FileNotFoundError(f"no features in {directory} (run: dvc repro featurize)")
    ids = pd.read_parquet(directory / ROWS)["id"]
    return ids, sp.load_npz(directory / MATRIX).tocsr()


def load_aligned(directory: Path, ids: pd.Series) -> sp.csr_matrix | np.ndarray:
    """One featurizer's matrix with its rows in the order of `ids`."""
    own_ids, matrix = load_features(directory)
    row_of = pd.Series(np.arange(len(own_ids)), index=own_ids.to_numpy())
    missing = pd.Index(ids).difference(row_of.index)
    if len(missing):
        raise ValueError(f"{len(missing)} messages have no features in {directory}; rerun its featurize stage")
    return matrix[row_of[ids.to_numpy()].to_numpy()]


def load_vectorizer(directory: Path) -> CountVectorizer:
    return vectorizer_from_json(read_json(Path(directory) / VECTORIZER))


@dataclass(frozen=True)
class Split:
    """One split's rows: message ids, their features and labels (1.0 = spam), row i for ids[i]."""

    ids: np.ndarray
    features: sp.csr_matrix | np.ndarray
    labels: np.ndarray


def load_splits(features_dir: Path, messages_file: Path, split_file: Path) -> dict[str, Split]:
    """Return {"train"|"val"|"test": Split}, rows matched to messages by id."""
    ids, matrix = load_features(features_dir)
    labels = pd.read_parquet(messages_file, columns=["id", "label"]).set_index("id")["label"]
    split = pd.read_parquet(split_file).set_index("id")["split"]
    row_of = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    missing = split.index.difference(row_of.index)
    if len(missing):
        raise ValueError(f"{len(missing)} split ids have no features in {features_dir}; rerun featurize")
    out = {}
    for name in SPLITS:
        wanted = split.index[split.to_numpy() == name]
        out[name] = Split(
            wanted.to_numpy(), matrix[row_of[wanted].to_numpy()], labels[wanted].to_numpy(dtype=np.float32)
        )
    return out


def require_both_classes(splits: dict[str, Split], parts: tuple[str, ...], needed_for: str) -> None:
    """StageError unless each of `parts` holds spam and ham (the split stage refuses others; a hand-made
    split may not): training, the val threshold and the test metrics mean nothing on one class."""
    for part in parts:
        labels = splits[part].labels
        if labels.size == 0 or labels.min() == labels.max():
            only = "no messages" if labels.size == 0 else f"only {'spam' if labels.min() else 'ham'}"
            raise StageError(f"the {part} split holds {only}: {needed_for} needs spam and ham in {', '.join(parts)}")
