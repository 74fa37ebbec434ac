"""The Gradio app: the functions behind the UI, and the real app driven in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from stages.common.features import vectorizer_to_json
from stages.common.neuron import Neuron
from stages.common.params import VectorizerParams
from stages.common.vectorizer import vectorizer_from_state
from stages.lessons.used_cars import price_from_sliders
from stages.user.predictor import Predictor
from stages.user.verdicts import (
    MAX_CHARS,
    check_message,
    highlighted,
    verdict_table,
    word_contributions,
)
from tests.app_driver import chromium, drive, first_look
from tests.conftest import unused_port, wait_until_listening

SPAM = "WINNER!! You have been selected for a FREE prize. Call now to claim your cash"
HAM = "Are we still on for lunch tomorrow? I will call you when I get home"


@pytest.fixture
def tiny_predictor() -> Predictor:
    """A bag-of-words neuron with hand-set weights: spam words positive, ham words negative."""
    fitted = CountVectorizer().fit([SPAM, HAM])
    vectorizer = vectorizer_from_state(vectorizer_to_json(fitted, VectorizerParams(kind="count")))
    weights = np.zeros(vectorizer.n_features)
    for word, sign in {"winner": 2, "free": 1.5, "prize": 1, "cash": 1, "lunch": -2, "home": -1}.items():
        weights[vectorizer.vocabulary[word]] = sign
    return Predictor(0.5, vectorizer.transform, Neuron(weights, -0.5), vectorizer)


def test_messages_are_checked_before_scoring():
    assert check_message("").note and check_message("   \n").text == ""
    assert check_message(None).note
    long = check_message("spam " * 20_000)
    assert len(long.text) == MAX_CHARS and "100,000 characters" in long.note
    assert check_message("hi\x00there").text == "hithere"
    assert check_message("Free prize").note == ""


def test_verdicts_follow_probability_and_threshold(tiny_predictor):
    table = verdict_table(SPAM, {"bow": tiny_predictor})
    assert table.loc[0, "verdict"] == "spam" and table.loc[0, "spam probability"] > 0.5
    assert verdict_table(HAM, {"bow": tiny_predictor}).loc[0, "verdict"] == "ham"


def test_word_contributions_add_up_to_the_logit(tiny_predictor):
    contributions = dict(word_contributions(SPAM, tiny_predictor))
    assert contributions["WINNER!!"] == pytest.approx(2) and contributions["FREE"] == pytest.approx(1.5)
    probability = tiny_predictor.spam_probability([SPAM])[0]
    logit = np.log(probability / (1 - probability))
    assert sum(contributions.values()) == pytest.approx(logit + 0.5, abs=1e-5)
    ham = dict(word_contributions(HAM, tiny_predictor))
    assert ham["lunch"] < 0 and ham["home"] < 0


def test_highlighted_pieces_rebuild_the_message(tiny_predictor):
    text = "  FREE   prize\tfor lunch!! "
    pieces = highlighted(text, word_contributions(text, tiny_predictor))
    assert "".join(piece for piece, _ in pieces) == text
    scores = [score for _, score in pieces if score is not None]
    assert max(abs(s) for s in scores) == pytest.approx(1)


def test_encoders_have_no_word_explanation(tiny_predictor):
    dense = Predictor(0.5, tiny_predictor.featurize, tiny_predictor.neuron)
    assert word_contributions(SPAM, dense) == [] and highlighted(SPAM, []) == [(SPAM, None)]


def test_price_sliders_invert_the_standardisation():
    state = {
        "weight": np.array([-0.5, -0.25]), "bias": np.array([0.0]), "x_mean": np.array([5.0, 50_000.0]),
        "x_std": np.array([2.0, 10_000.0]), "y_mean": np.array([30_000.0]), "y_std": np.array([10_000.0]),
    }  # fmt: skip
    assert price_from_sliders(state, {"target": "price"}, 5, 50_000) == pytest.approx(30_000)
    assert price_from_sliders(state, {"target": "price"}, 7, 60_000) == pytest.approx(30_000 - 7_500)


def test_app_without_models_says_what_to_run(tmp_path, monkeypatch):
    from stages.user.app import NO_MODELS, build_app, classify

    monkeypatch.chdir(tmp_path)
    note, *_ = classify("Free prize", {})
    assert note == NO_MODELS and "spam repro" in NO_MODELS
    import gradio as gr

    blocks = build_app(tmp_path / "reports")  # builds, with notes in place of the missing results
    shown = "\n".join(b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and b.value)
    assert NO_MODELS in shown
    for note in ("No comparison yet", "used-car lesson has not run yet", "Fahrenheit lesson has not run yet"):
        assert note in shown, shown


def test_one_featurizer_order_everywhere(in_tmp):
    """The app lists featurizers in params.yaml's order (as compare.md and the report do), others after."""
    from stages.user.app import featurizer_order

    assert featurizer_order(["minilm", "zeta", "bow", "tfidf"]) == ["bow", "tfidf", "minilm", "zeta"]


@pytest.mark.slow
def test_app_in_a_real_browser(project, first_run):
    """`spam serve` on a free port; Chromium types a spam and a ham message and reads the verdicts shown."""
    if chromium() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it): the app was not driven")
    port = unused_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(project / ".hf-home")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    server = subprocess.Popen(
        ["spam", "serve", "--port", str(port)], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_until_listening(port, server, 120)
        screenshot = project / "reports" / "app.png"
        url, odd = f"http://127.0.0.1:{port}", ("", "free " * 20_000)
        look = first_look(url)
        (spam, ham), (empty, long), outside = drive(url, [SPAM, HAM], 6, screenshot, odd)
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    printed = server.stdout.read().decode()
    # Before any input: a sentence, not an empty table's "1 2 3" or placeholder icons; a price, not $0.
    assert "Type a message or pick an example" in look["classify_text"] and "Verdicts" not in look["classify_text"]
    assert float(look["car_price"].replace(",", "")) > 1_000
    assert look["thumbnail_fits"] and set(look["thumbnail_fits"]) == {"contain"}  # whole plots, not cropped
    assert "share=True" not in printed and "Loading weights" not in printed and f":{port}" in printed, printed
    assert list(spam) == ["bow", "tfidf", "bart", "bert", "minilm", "tfidf_minilm"]  # params.yaml's order
    for name in ("bow", "tfidf", "minilm", "tfidf_minilm"):  # the real models (bart/bert are random stand-ins here)
        assert spam[name] == "spam" and ham[name] == "ham", (spam, ham)
    assert "nothing to classify" in empty and "only the first 5,000 were scored" in long and alive
    assert "Traceback" not in empty + long
    assert outside == []  # nothing fetched from outside the app: no CDN, no analytics
    assert screenshot.read_bytes()[:4] == b"\x89PNG"
