"""bow/tfidf featurization of new text from vectorizer.json, with numpy and scipy only.

The featurize stage fits scikit-learn's CountVectorizer/TfidfVectorizer and stores its vocabulary and idf
as JSON (stages/common/features.py). Scoring a message needs only the transform, reimplemented here to
the letter of scikit-learn's analyzers (tests/test_features.py checks equality on the sample messages),
so `spam predict` starts without importing scikit-learn, pandas or torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import scipy.sparse as sp

# The choices params.yaml offers (stages/common/params.py VectorizerParams uses these types).
VectorizerKind = Literal["count", "tfidf"]
Analyzer = Literal["word", "char", "char_wb"]

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
WHITE_SPACES = re.compile(r"\s\s+")


def word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    if high == 1:
        return tokens
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(tokens) + 1)):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    text = WHITE_SPACES.sub(" ", text)
    grams = list(text) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(text) + 1)):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    grams = []
    for word in WHITE_SPACES.sub(" ", text).split():
        word = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(word[:n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


@dataclass(frozen=True)
class Analysis:
    """The params in vectorizer.json that decide the transform (the featurize stage wrote them from
    VectorizerParams; checked here without pydantic, which `spam predict` does not import)."""

    kind: VectorizerKind
    analyzer: Analyzer
    ngram_range: tuple[int, int]
    lowercase: bool
    binary: bool
    sublinear_tf: bool

    @classmethod
    def from_json(cls, params: object) -> Analysis:
        if not isinstance(params, dict):
            raise ValueError("`params` is not a JSON object")
        ngrams = params.get("ngram_range")
        low, high = ngrams if isinstance(ngrams, list) and len(ngrams) == 2 else (None, None)
        checks = {
            "kind": params.get("kind") in get_args(VectorizerKind),
            "analyzer": params.get("analyzer") in get_args(Analyzer),
            "ngram_range": type(low) is int and type(high) is int and 1 <= low <= high <= 20,
            **{flag: type(params.get(flag)) is bool for flag in ("lowercase", "binary", "sublinear_tf")},
        }
        wrong = [key for key, ok in checks.items() if not ok]
        if wrong:
            raise ValueError(f"params.{wrong[0]} is missing or invalid")
        flags = (params["lowercase"], params["binary"], params["sublinear_tf"])
        return cls(params["kind"], params["analyzer"], (low, high), *flags)


@dataclass(frozen=True)
class TextVectorizer:
    """A fitted bag-of-words or TF-IDF vectorizer: vocabulary (term -> column) and, for tfidf, idf."""

    params: Analysis
    vocabulary: dict[str, int]
    idf: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return len(self.vocabulary)

    def analyzer(self) -> Callable[[str], list[str]]:
        """text -> its terms, as scikit-learn's build_analyzer() for these params."""
        low, high = self.params.ngram_range
        lower = self.params.lowercase
        if self.params.analyzer == "word":
            return lambda text: word_ngrams(TOKEN.findall(text.lower() if lower else text), low, high)
        grams = char_ngrams if self.params.analyzer == "char" else char_wb_ngrams
        return lambda text: grams(text.lower() if lower else text, low, high)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        analyze, vocabulary = self.analyzer(), self.vocabulary
        indptr, indices, values = [0], [], []
        for text in texts:
            counts: dict[int, int] = {}
            for term in analyze(text):
                column = vocabulary.get(term)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            indices.extend(counts)
            values.extend(counts.values())
            indptr.append(len(indices))
        columns = np.asarray(indices, dtype=np.int64)
        data = np.asarray(values, dtype=np.float64)
        if self.params.binary:
            data = np.minimum(data, 1.0)
        if self.params.kind == "tfidf":
            if self.params.sublinear_tf:
                data = np.log(data) + 1.0
            data = data * self.idf[columns]
            rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
            norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=len(texts)))  # l2, as scikit-learn
            data = data / np.where(norms > 0, norms, 1.0)[rows]
        return sp.csr_matrix((data, columns, np.asarray(indptr)), shape=(len(texts), self.n_features))


def vectorizer_from_state(state: object) -> TextVectorizer:
    """Check and rebuild vectorizer.json's content; ValueError says what is wrong."""
    if not isinstance(state, dict) or not isinstance(state.get("vocabulary"), dict):
        raise ValueError("not a JSON object with a `vocabulary` object")
    params = Analysis.from_json(state.get("params"))
    vocabulary = state["vocabulary"]
    columns = list(vocabulary.values())
    if not all(type(c) is int for c in columns) or sorted(columns) != list(range(len(columns))):
        raise ValueError("vocabulary columns are not 0..n-1, each once")
    idf = None
    if params.kind == "tfidf":
        idf = np.asarray(state.get("idf"), dtype=np.float64)
        if idf.shape != (len(vocabulary),) or not np.isfinite(idf).all():
            raise ValueError(f"idf must be {len(vocabulary)} finite numbers")
    return TextVectorizer(params, vocabulary, idf)
