import numpy as np
import pandas as pd
import pytest

from stages.common.features import load_features, load_vectorizer, save_sparse_features
from stages.common.params import VectorizerParams
from stages.featurize import vectorize

MESSAGES = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d"],
        "text": ["Free prize, call now", "see you at lunch", "WIN a free prize", "zebra crossing"],
    }
)


@pytest.mark.parametrize(
    "params",
    [
        VectorizerParams(kind="count", max_features=1000),
        VectorizerParams(kind="tfidf", ngram_range=(1, 2), sublinear_tf=True),
        VectorizerParams(kind="tfidf", analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
    ],
)
def test_vectorizer_round_trips_through_json(tmp_path, params):
    matrix, state = vectorize(MESSAGES, pd.Series(["a", "b", "c"]), params)
    save_sparse_features(tmp_path / "f", MESSAGES["id"], matrix, state)
    ids, loaded = load_features(tmp_path / "f")
    assert list(ids) == list(MESSAGES["id"])
    assert (loaded != matrix).nnz == 0
    again = load_vectorizer(tmp_path / "f").transform(MESSAGES["text"])
    assert np.allclose(again.toarray(), matrix.toarray())


def test_vocabulary_comes_from_train_messages_only():
    _, state = vectorize(MESSAGES, pd.Series(["a", "b"]), VectorizerParams(kind="count"))
    assert "prize" in state["vocabulary"] and "zebra" not in state["vocabulary"] and "win" not in state["vocabulary"]


def test_features_directory_holds_no_pickle(tmp_path):
    matrix, state = vectorize(MESSAGES, MESSAGES["id"], VectorizerParams(kind="tfidf"))
    save_sparse_features(tmp_path / "f", MESSAGES["id"], matrix, state)
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["matrix.npz", "rows.parquet", "vectorizer.json"]
    with np.load(tmp_path / "f" / "matrix.npz", allow_pickle=False) as archive:
        assert "data" in archive.files
