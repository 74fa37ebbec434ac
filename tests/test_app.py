"""The Gradio app: the functions behind the UI, and the real app driven in headless Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    from stages.user.app import NO_MODELS, ServedModels, build_app, classify

    monkeypatch.chdir(tmp_path)
    note, *_ = classify("Free prize", ServedModels([]))
    assert note == NO_MODELS and "spam repro" in NO_MODELS
    import gradio as gr

    blocks = build_app(tmp_path / "reports")  # builds, with notes in place of the missing results
    shown = "\n".join(b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown) and b.value)
    assert NO_MODELS in shown
    for note in ("No comparison yet", "used-car lesson has not run yet", "Fahrenheit lesson has not run yet"):
        assert note in shown, shown


def test_the_app_serves_the_model_on_disk(trained):
    """A retrain while the app runs: the next click uses the new card, not the one loaded at start."""
    from stages.user.app import classify, load_predictors

    models = load_predictors()
    _, table, *_ = classify("WINNER!! Call now to claim your FREE prize", models)
    assert table["value"]["threshold"].tolist() == [0.5]
    card = trained / "data/models/bow/card.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "threshold": 0.7}))  # the same size as 0.5's card
    note, table, *_ = classify("WINNER!! Call now to claim your FREE prize", models)
    assert table["value"]["threshold"].tolist() == [0.7] and "reloaded" in note
    card.unlink()  # mid-retrain (DVC removes outputs first): said, not served from memory
    note, *shown = classify("WINNER!! Call now to claim your FREE prize", models)
    assert "bow** is not shown" in note and "dvc repro train" in note, note
    assert all(update["visible"] == "hidden" for update in shown)


def test_message_words_are_text_in_the_note(trained):
    """The note is Markdown: a message's words in it are entity-escaped, and its control characters shown."""
    from stages.user.app import classify, load_predictors

    note, *_ = classify("![free](http://127.0.0.1:9/x.png) **claim** <b>prize</b> win\x1b[1G", load_predictors())
    words = note.split("leaned on: ")[1]
    assert not set("![]()*<>/:") & set(words) and "\x1b" not in words, words
    assert "&#33;&#91;free&#93;&#40;http&#58;&#47;&#47;127&#46;0&#46;0&#46;1&#58;9&#47;x&#46;png&#41;" in words
    assert "win&#92;x1b&#91;1G" in words  # ESC written as \x1b, as `spam predict` shows it


def test_one_featurizer_order_everywhere(in_tmp):
    """The app lists featurizers in params.yaml's order (as compare.md and the report do), others after."""
    from stages.user.app import featurizer_order

    assert featurizer_order(["minilm", "zeta", "bow", "tfidf"]) == ["bow", "tfidf", "minilm", "zeta"]


@contextlib.contextmanager
def request_trap(seconds: float = 120) -> Iterator[tuple[int, list[str]]]:
    """A tiny HTTP server on 127.0.0.1 that records every path asked of it; it stops itself after `seconds`."""
    asked: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    deadline = threading.Timer(seconds, server.shutdown)
    deadline.start()
    try:
        yield server.server_address[1], asked
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()


def serve_in(directory: Path) -> tuple[subprocess.Popen, int]:
    """`spam serve` in `directory` on a free port, offline, once it listens."""
    port = unused_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(directory / ".hf-home")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    server = subprocess.Popen(
        ["spam", "serve", "--port", str(port)], cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wait_until_listening(port, server, 120)
    return server, port


@pytest.mark.slow
def test_message_markup_is_shown_as_text_in_a_real_browser(trained):
    """A message's Markdown image, HTML tag and emphasis are shown as written: the browser fetches nothing."""
    if chromium() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it): the app was not driven")
    with request_trap() as (trap, asked):
        image, tag = f"![free](http://127.0.0.1:{trap}/x.png)", f"<img src=http://127.0.0.1:{trap}/y.png?claim>"
        message = f"{image} {tag} **bold** **prize** win\x1b[1G"
        server, port = serve_in(trained)
        try:
            seen = drive(f"http://127.0.0.1:{port}", [], 1, None, (message,))
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert asked == []  # nothing reached the trap: no <img> made from the message
    [shown], outside = seen.notes, seen.outside
    note = shown.split("leaned on: ")[1]
    assert f"{image} (" in note and "**prize** (" in note and "win\\x1b[1G" in note, shown  # as written
    highlight = " ".join(shown.split("words that pushed towards spam")[1].split())  # one line per piece
    assert f"{image} {tag} **bold** **prize** win\\x1b[1G" in highlight and outside == [], shown


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
        seen = drive(url, [SPAM, HAM], 6, screenshot, odd)
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    printed = server.stdout.read().decode()
    (spam, ham), (empty, long), outside = seen.verdicts, seen.notes, seen.outside
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
    for bars, thresholds in zip(seen.bars, seen.thresholds, strict=True):  # each model's own threshold, drawn
        assert [bar["featurizer"] for bar in bars] == list(spam)
        for bar in bars:
            assert bar["marker"] == pytest.approx(thresholds[bar["featurizer"]], abs=0.005), bars
            assert bar["marker_width"] >= 2 and bar["marker_height"] > bar["track_height"], bar  # seen above the fill
            assert f"threshold {thresholds[bar['featurizer']]:.4f}" in bar["label"], bar
            probability = float(bar["label"].split()[0])
            assert 0 < probability < 1 and bar["fill"] == pytest.approx(probability, abs=0.005), bar


def test_each_bar_carries_its_own_models_threshold_and_a_shown_probability(tiny_predictor):
    """The probability bars mark each model's own threshold; their labels never read 0 or 1."""
    from stages.user.app import bars_html, probability_bars

    strict = Predictor(0.7, tiny_predictor.featurize, tiny_predictor.neuron)
    certain = Predictor(0.3, tiny_predictor.featurize, Neuron(np.zeros(tiny_predictor.neuron.weight.shape), 30.0))
    bars = probability_bars(verdict_table(SPAM, {"bow": tiny_predictor, "strict": strict, "certain": certain}))
    assert [(bar.featurizer, bar.threshold) for bar in bars] == [("bow", 0.5), ("strict", 0.7), ("certain", 0.3)]
    shown = bars_html(bars)
    assert shown.count('class="threshold-marker"') == 3
    assert "left: 50.00%" in shown and "left: 70.00%" in shown and "left: 30.00%" in shown
    assert "0.9999" in shown and "1.0000" not in shown  # shown_probability: never a certainty
