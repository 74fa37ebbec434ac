"""bench/seeds.py's summary: mean +- sd per featurizer, and which paired differences hold on every seed."""

import json

import pytest

from bench.seeds import featurizers_overrides, markdown, summarise
from stages.common.params import load_params
from stages.common.seeds import seed_verdicts, seeds_markdown
from tests.conftest import ROOT


def test_summary_and_verdicts():
    per_seed = {
        1: {"a": {"mcc": 0.90, "f1": 0.92}, "b": {"mcc": 0.95, "f1": 0.96}},
        2: {"a": {"mcc": 0.92, "f1": 0.93}, "b": {"mcc": 0.94, "f1": 0.95}},
        3: {"a": {"mcc": 0.91, "f1": 0.92}, "b": {"mcc": 0.90, "f1": 0.93}},
    }
    result = summarise(per_seed, ["a", "b"])
    assert result["summary"]["a"]["mcc"]["mean"] == pytest.approx(0.91)
    assert result["summary"]["a"]["mcc"]["sd"] == pytest.approx(0.01)
    mcc, f1 = result["pairs"]["b - a (mcc)"], result["pairs"]["b - a (f1)"]
    assert mcc["differences"] == pytest.approx([0.05, 0.02, -0.01]) and mcc["same_sign"] == 2 and not mcc["holds"]
    assert f1["same_sign"] == 3 and f1["holds"]  # +0.04, +0.02, +0.01: every seed, and mean - sd > 0
    text = markdown(result)
    assert "| a | 0.9100 ± 0.0100 |" in text and "| b - a (f1) | +0.0233 ± 0.0153 | 3/3 | yes |" in text


def seeds_run() -> dict:
    """A seeds.json as bench/seeds.py writes it (JSON keys are strings) for seeds 1-3."""
    per_seed = {
        1: {"a": {"mcc": 0.90, "f1": 0.92}, "b": {"mcc": 0.95, "f1": 0.96}},
        2: {"a": {"mcc": 0.92, "f1": 0.93}, "b": {"mcc": 0.94, "f1": 0.95}},
        3: {"a": {"mcc": 0.91, "f1": 0.92}, "b": {"mcc": 0.90, "f1": 0.93}},
    }
    result = summarise(per_seed, ["a", "b"])
    return json.loads(json.dumps(result))


def test_compare_quotes_the_differences_that_hold_and_says_when_the_seeds_run_is_stale():
    fresh = seed_verdicts(seeds_run(), {"a": 0.90, "b": 0.95}, split_seed=1)
    assert fresh.stale == [] and fresh.not_run == [] and fresh.seeds == [1, 2, 3]
    text = seeds_markdown(fresh)
    assert "- Hold: b - a (f1)." in text and "b - a (mcc) (+0.0200 ± 0.0300, same sign on 2/3)" in text
    assert "| a | 0.9100 ± 0.0100 | 0.9233 ± 0.0058 |" in text and "Stale" not in text

    changed = seed_verdicts(seeds_run(), {"a": 0.90, "b": 0.97, "c": 0.5}, split_seed=1)
    assert changed.stale == ["b"] and changed.not_run == ["c"]
    assert "**Stale:**" in seeds_markdown(changed) and "Not in the seeds run: c." in seeds_markdown(changed)
    other_split = seed_verdicts(seeds_run(), {"a": 0.90}, split_seed=42)  # nothing to check it against
    assert other_split.stale == ["a"]
    assert "No seeds run yet" in seeds_markdown(None)


def test_an_opt_in_featurizer_brings_the_stage_that_builds_its_model():
    """An experiment running minilm_int8 or minilm_static (not in the committed `featurizers`) needs its
    export@/distill@ stage, which dvc.yaml only has when models.yaml lists it."""
    overrides = featurizers_overrides(load_params(ROOT / "params.yaml"), ["tfidf", "minilm_int8", "minilm_static"])
    assert overrides == [
        "featurizers=[tfidf,minilm_int8,minilm_static]",
        "models.yaml:exports=[minilm_int8]",
        "models.yaml:distills=[minilm_static]",
    ]


def test_each_seeds_intervals_against_the_baseline_are_tabled():
    result = summarise({1: {"a": {"mcc": 0.9, "f1": 0.9}, "b": {"mcc": 0.95, "f1": 0.95}},
                        2: {"a": {"mcc": 0.9, "f1": 0.9}, "b": {"mcc": 0.88, "f1": 0.9}}}, ["a", "b"])  # fmt: skip
    result["intervals"] = {
        1: {"baseline": "a", "changes": {"b": {"mcc": {"change": 0.05, "ci95": [0.01, 0.09]}}}},
        2: {"baseline": "a", "changes": {"b": {"mcc": {"change": -0.02, "ci95": [-0.05, 0.01]}}}},
    }
    text = markdown(result)
    assert "Against a on each seed" in text
    assert "| b | +0.0500 [+0.0100, +0.0900] | -0.0200 [-0.0500, +0.0100] |" in text
