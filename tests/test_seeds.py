"""bench/seeds.py's summary: mean +- sd per featurizer, and which paired differences hold on every seed."""

import pytest

from bench.seeds import markdown, summarise


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
