import json

import numpy as np
import pandas as pd
import pytest

from stages.common.features import load_features, load_vectorizer, save_sparse_features
from stages.common.params import VectorizerParams
from stages.common.vectorizer import vectorizer_from_state
from stages.featurize import vectorize
from tests.conftest import SAMPLE

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


SAMPLE_TEXTS = [line.split("\t", 1)[1] for line in SAMPLE.read_text(encoding="utf-8").splitlines() if "\t" in line]
ODD_TEXTS = [
    "",
    "   ",
    "a",
    "I",
    "🎉🎉 FREE 🎁 prize!!!",
    "tab\tand  two   spaces\n new line",
    "ÉCOLE école Straße",
    "x" * 3000,
]


@pytest.mark.parametrize(
    "params",
    [
        VectorizerParams(kind="count", max_features=1000),
        VectorizerParams(kind="count", ngram_range=(1, 3), binary=True, lowercase=False),
        VectorizerParams(kind="count", analyzer="char", ngram_range=(1, 4)),
        VectorizerParams(kind="tfidf", analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        VectorizerParams(kind="tfidf", analyzer="char", ngram_range=(3, 3), min_df=2),
        VectorizerParams(kind="tfidf", ngram_range=(2, 2), binary=True),
        VectorizerParams(kind="tfidf", ngram_range=(1, 2), sublinear_tf=True, lowercase=False),
    ],
    ids=["bow", "word-1-3-binary-cased", "char-1-4", "tfidf-char-wb", "tfidf-char-3", "tfidf-bigram-binary", "tfidf"],
)
def test_numpy_vectorizer_equals_the_training_time_features(params):
    """`spam predict` featurizes with numpy/scipy only: the same matrix as scikit-learn's, within 1e-6."""
    texts = SAMPLE_TEXTS + ODD_TEXTS
    messages = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    matrix, state = vectorize(messages, messages["id"][: len(SAMPLE_TEXTS)], params)
    ours = vectorizer_from_state(json.loads(json.dumps(state))).transform(texts)
    assert ours.shape == matrix.shape and matrix.nnz > 0
    assert np.abs(ours.toarray() - matrix.toarray()).max() < 1e-6


def test_max_features_keeps_the_most_frequent_and_breaks_ties_alphabetically():
    """numpy's argsort, which scikit-learn's own cut uses, orders ties by the CPU's vector units: the cut here is
    stable, the same as scikit-learn's wherever there is no tie at the cut (docs/internals.md#precision)."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = pd.DataFrame({"id": list("abcd"), "text": ["zulu yankee alpha", "zulu bravo", "zulu x-ray", "delta"]})
    ids = pd.Series(list("abcd"))
    # zulu (3) first, then four terms seen once: alpha and bravo win the tie for the two places left.
    _, state = vectorize(texts, ids, VectorizerParams(kind="count", max_features=3))
    assert state["vocabulary"] == {"alpha": 0, "bravo": 1, "zulu": 2}
    for cut in (1, 50):  # no tie at the cut: scikit-learn's own vocabulary
        own = CountVectorizer(max_features=cut).fit(texts["text"]).vocabulary_
        assert vectorize(texts, ids, VectorizerParams(kind="count", max_features=cut))[1]["vocabulary"] == own
    binary = VectorizerParams(kind="tfidf", max_features=2, binary=True, min_df=1)
    assert set(vectorize(texts, ids, binary)[1]["vocabulary"]) == {"zulu", "alpha"}
