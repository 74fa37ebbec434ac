"""reports/index.html from a reports directory written in the test (no pipeline run, no images)."""

from __future__ import annotations

import html
import json

import pandas as pd
import pytest

from stages.common.comparison import compare_featurizers
from stages.compare import with_evaluation
from stages.report import render_index

FACTS = {
    "lines_read": 10, "html_entities_decoded": 1, "duplicates_dropped": 2, "bad_lines": 0, "messages": 8,
    "classes": {
        "ham": {"messages": 6, "share": 0.75, "median_chars": 20.0, "median_words": 4.0, "examples": ["<b>hi</b>"]},
        "spam": {"messages": 2, "share": 0.25, "median_chars": 90.0, "median_words": 15.0,
                 "examples": ["WIN\x1b[1G\u202e!"]},
    },
}  # fmt: skip


def reports_dir(tmp_path, left_out: list[str]):
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "label": [0, 1, 1, 0], "predicted": [0, 1, 0, 0]})
    report = compare_featurizers({"bow": frame, "tfidf": frame.assign(predicted=[0, 1, 1, 0])}, "bow", 20, 0)
    report.left_out = left_out
    test = {"roc_auc": 0.9, "pr_auc": 0.8, "brier": 0.1, "ece": 0.05, "ece_uncalibrated": 0.06}
    with_evaluation(report, {name: {"test": test} for name in report.featurizers}, {"bow": "none", "tfidf": "none"})
    (tmp_path / "compare.json").write_text(json.dumps(report.to_json()))
    (tmp_path / "explore.json").write_text(json.dumps(FACTS))
    return tmp_path


@pytest.mark.parametrize("left_out", [[], ["bart"]])
def test_the_page_shows_every_featurizer_and_says_when_it_is_partial(tmp_path, left_out):
    page = render_index(reports_dir(tmp_path, left_out), ["bow", "tfidf"])
    assert page.startswith("<!doctype html>") and page.count('<h3 id="') == 2  # one per featurizer
    assert "<h3>tfidf vs bow</h3>" in page and '<a href="eval/tfidf/metrics.json">' in page
    assert "4 test messages (2 spam)" in page
    assert ("<strong>Partial report:</strong> bart left out" in page) == bool(left_out)


def test_missing_pieces_are_named_and_text_is_escaped(tmp_path):
    page = render_index(reports_dir(tmp_path, []), ["bow"])
    assert f"missing: {html.escape(str(tmp_path / 'eval' / 'bow' / 'figures' / 'roc.png'))}" in page
    assert "<blockquote>&lt;b&gt;hi&lt;/b&gt;</blockquote>" in page  # a message is text, never markup
    assert "<blockquote>WIN\\x1b[1G\\u202e!</blockquote>" in page  # ESC and a bidi override shown, not obeyed
    assert "\x1b" not in page and "\u202e" not in page
    assert 'id="cars"' not in page and 'id="fahrenheit"' not in page  # lessons not run: no empty sections


def test_the_data_section_shows_the_near_duplicate_counts(tmp_path):
    near = {"groups": 162, "messages_in_groups": 464, "largest_group": 14, "cross_source_twins": 0}
    directory = reports_dir(tmp_path, [])
    (directory / "explore.json").write_text(json.dumps(FACTS | {"near_duplicates": near}))
    page = render_index(directory, ["bow"])
    assert "<p>464 messages are near-duplicates in 162 groups (largest 14; 0 near-twins across source files)" in page
    assert "near-duplicates" not in render_index(reports_dir(tmp_path, []), ["bow"])  # an older explore.json


def test_lesson_sections_use_the_shared_formats_and_state_no_negative_price(tmp_path):
    directory = reports_dir(tmp_path, [])
    block = {"neuron": {"rmse": 15213.47, "mae": 11786.35, "r2": 0.4662}}
    cars = {
        "test_full": block, "test_trimmed": block, "outlier_bounds": [-32373.5, 99422.0],
        "rows": {"train": 3207, "train_kept": 3016}, "neuron_rmse_over_linear_regression": 1.0,
    }  # fmt: skip
    rates = {"lr=0.002": {"weight": None, "bias": None, "iterations_to_converge": None, "diverged_at_iteration": 14}}
    for lesson, metrics in (("cars", cars), ("fahrenheit", {"least_squares": {"weight": 1.8, "bias": 32.0},
                                                            "learning_rates": rates})):  # fmt: skip
        (directory / lesson).mkdir()
        (directory / lesson / "metrics.json").write_text(json.dumps(metrics))
    page = render_index(directory, ["bow"])
    assert "<th>R² (trimmed test)</th>" in page and '<td class="num">15,213.47</td>' in page
    assert "Train prices above $99,422 dropped" in page and "32,374" not in page and "32,373" not in page
    assert '<td>lr=0.002</td><td class="num">–</td>' in page and "1.0000" in page
