"""What the app shows, as plain functions: every model's verdict on a message, and which words pushed it.

Kept free of Gradio so they are unit-tested directly and reused by any front end.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import pandas as pd

from stages.common.errors import printable
from stages.common.message_stream import LONE_SURROGATE, MAX_CHARS  # as `spam predict` does
from stages.user.predictor import Predictor, shown_probability

WORD = re.compile(r"\S+")
# Every ASCII punctuation mark as a numeric character reference: Markdown and HTML see no syntax in it (no
# link, image, tag, emphasis, code, autolink or maths) and the browser shows the character itself.
AS_TEXT = str.maketrans({mark: f"&#{ord(mark)};" for mark in string.punctuation})


@dataclass
class Checked:
    text: str  # what gets scored
    note: str  # shown to the user; empty when the message is fine


def check_message(message: object) -> Checked:
    text = (message if isinstance(message, str) else "").replace("\x00", "")
    text, odd = LONE_SURROGATE.subn("\ufffd", text)
    notes = [f"{odd:,} invalid character{'s' * (odd != 1)} (lone UTF-16 surrogates) replaced by �."] if odd else []
    if not text.strip():
        return Checked("", "Type or pick a message first: there is nothing to classify.")
    if len(text) > MAX_CHARS:
        notes.append(f"This message has {len(text):,} characters; only the first {MAX_CHARS:,} were scored.")
        text = text[:MAX_CHARS]
    return Checked(text, " ".join(notes))


def literal(text: str) -> str:
    """`text` (words of a message) to put into Markdown: shown as written, never markup or terminal control."""
    return printable(text).translate(AS_TEXT)


def featurize_once(text: str, predictors: dict[str, Predictor]) -> dict[str, object]:
    """Each model's features of `text` (one row), computed once and shared by the verdicts and the words."""
    return {name: predictor.featurize([text]) for name, predictor in predictors.items()}


def verdict_table(
    text: str, predictors: dict[str, Predictor], features: dict[str, object] | None = None
) -> pd.DataFrame:
    """One row per model; `features` from `featurize_once` (computed here when not given)."""
    features = features if features is not None else featurize_once(text, predictors)
    rows = []
    for name, predictor in predictors.items():
        probability = float(predictor.probability_of(features[name])[0])
        rows.append(
            {
                "featurizer": name,
                "verdict": "spam" if probability >= predictor.threshold else "ham",
                "spam probability": shown_probability(probability),
                "threshold": round(predictor.threshold, 4),
            }
        )
    return pd.DataFrame(rows, columns=["featurizer", "verdict", "spam probability", "threshold"])


def word_contributions(text: str, predictor: Predictor, row=None) -> list[tuple[str, float]]:
    """For a bag-of-words/TF-IDF neuron: each word's share of the logit, weight x feature value.

    A feature (word or character n-gram) found inside several words is split evenly between them, so
    the contributions add up to the logit minus the bias (for word n-grams that cross words, nearly).
    """
    vectorizer = predictor.vectorizer
    if vectorizer is None:
        return []
    analyzer = vectorizer.analyzer()
    vocabulary = vectorizer.vocabulary
    row = (row if row is not None else vectorizer.transform([text])).tocsr()  # `text`'s features, one row
    weights = predictor.neuron.weight
    value_of = dict(zip(row.indices, row.data * weights[row.indices], strict=True))
    spans = [m.group() for m in WORD.finditer(text)]
    grams_per_span = [{vocabulary[g] for g in analyzer(span) if g in vocabulary} for span in spans]
    sharing = pd.Series([g for grams in grams_per_span for g in grams]).value_counts()
    return [
        (span, float(sum(value_of.get(g, 0.0) / sharing[g] for g in grams)))
        for span, grams in zip(spans, grams_per_span, strict=True)
    ]


def highlighted(text: str, contributions: list[tuple[str, float]]) -> list[tuple[str, float | None]]:
    """The message cut into words and gaps for a highlighted-text view; scores scaled to [-1, 1]."""
    if not contributions:
        return [(text, None)]
    scale = max(abs(c) for _, c in contributions) or 1.0
    pieces, position = [], 0
    for (span, contribution), match in zip(contributions, WORD.finditer(text), strict=True):
        if match.start() > position:
            pieces.append((text[position : match.start()], None))
        pieces.append((span, round(contribution / scale, 3)))
        position = match.end()
    if position < len(text):
        pieces.append((text[position:], None))
    return pieces


def top_words(contributions: list[tuple[str, float]], count: int = 5) -> str:
    ranked = sorted(contributions, key=lambda pair: -abs(pair[1]))[:count]
    return ", ".join(f"{word} ({value:+.2f})" for word, value in ranked if value) or "no known words"
