"""Calibration: ECE and Brier on known cases, the val-fitted recalibrations, the reliability diagram."""

import numpy as np
import pytest
from scipy.special import expit, logit

from stages.common.calibration import (
    Calibration,
    brier_score,
    expected_calibration_error,
    fit_calibration,
    log_loss,
    reliability_table,
)


def calibrated_sample(n: int = 200_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with exactly the stated probability."""
    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(0.001, 0.999, size=n)
    return (rng.uniform(size=n) < probabilities).astype(float), probabilities


def test_ece_is_near_zero_for_calibrated_probabilities_and_large_otherwise():
    labels, probabilities = calibrated_sample()
    assert expected_calibration_error(labels, probabilities) < 0.005
    assert expected_calibration_error(labels, probabilities**3) > 0.1  # too low everywhere
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_ece_bins_are_equal_width_and_cover_zero_and_one():
    rows = reliability_table(np.array([0, 0, 1, 1]), np.array([0.0, 0.05, 0.95, 1.0]), bins=15)
    assert [(r["bin_low"], r["count"]) for r in rows] == [(0.0, 2), (round(14 / 15, 6), 2)]
    assert rows[1]["fraction_spam"] == 1.0 and rows[0]["mean_predicted"] == pytest.approx(0.025)


def test_brier_score():
    assert brier_score(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0
    assert brier_score(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.25)


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_recalibration_fitted_on_val_lowers_its_log_loss_and_keeps_the_ranking(method):
    labels, probabilities = calibrated_sample(20_000, seed=1)
    overconfident = 4.0 * logit(probabilities)  # what a neuron trained to separate the classes tends to output
    calibration = fit_calibration(overconfident, labels, method)
    assert log_loss(calibration(overconfident), labels) < log_loss(overconfident, labels) - 0.05
    assert calibration.scale == pytest.approx(0.25, rel=0.1)  # recovers the true temperature, 4
    assert np.all(np.diff(calibration(np.sort(overconfident))) >= 0)  # monotone: same ranking, same ROC
    fresh_labels, fresh = calibrated_sample(20_000, seed=2)  # and it generalises to new messages
    before = expected_calibration_error(fresh_labels, expit(4.0 * logit(fresh)))
    after = expected_calibration_error(fresh_labels, expit(calibration(4.0 * logit(fresh))))
    assert after < 0.02 < before


def test_no_calibration_is_the_identity_and_round_trips_through_the_card():
    logits = np.array([-3.0, 0.0, 2.5])
    assert np.array_equal(fit_calibration(logits, np.array([0, 1, 1]), "none")(logits), logits)
    platt = Calibration("platt", 0.5, -1.0)
    assert Calibration.from_card(platt.to_card()) == platt and Calibration.from_card(None) is None


def test_reliability_diagram_and_plot_rows_are_written(tmp_path):
    from stages.evaluate import draw_reliability, reliability_rows

    labels, probabilities = calibrated_sample(2_000)
    tables = {
        "calibrated": reliability_table(labels, probabilities),
        "uncalibrated": reliability_table(labels, probabilities**2),
    }
    draw_reliability(tmp_path / "reliability.png", "tfidf", tables, "platt")
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    rows = reliability_rows(tables, "platt")
    assert {r["curve"] for r in rows} == {"calibrated (platt)", "uncalibrated"} and len(rows) == 30
    assert {r["curve"] for r in reliability_rows(tables, "none")} == {"uncalibrated"}


def test_predictor_applies_the_cards_calibration_and_refuses_a_bad_one(tmp_path):
    """`spam predict` prints sigmoid(scale * logit + shift) with the card's calibration; a damaged one is one
    error line naming the card and the stage that rebuilds it."""
    from stages.common.errors import StageError
    from stages.common.neuron import Neuron
    from stages.user.predictor import read_calibration

    neuron = Neuron(np.array([2.0, -1.0]), 0.5)
    x = np.array([[1.0, 0.0], [0.0, 3.0]])
    platt = Calibration("platt", 0.5, -0.25)
    logits = x @ neuron.weight + 0.5
    assert np.allclose(neuron.spam_probability(x, platt), expit(0.5 * logits - 0.25))
    assert np.allclose(neuron.spam_probability(x), expit(logits))
    card = tmp_path / "card.json"
    assert read_calibration(platt.to_card(), card, "dvc repro train@x") == platt
    assert read_calibration(None, card, "dvc repro train@x") is None
    for bad in ({"method": "platt", "scale": -1.0, "shift": 0.0}, {"method": "isotonic", "scale": 1, "shift": 0}, []):
        with pytest.raises(StageError, match=r"card.json: calibration must be .*rerun `dvc repro train@x`"):
            read_calibration(bad, card, "dvc repro train@x")
