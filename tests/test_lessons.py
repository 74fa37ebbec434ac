"""The regression lessons: strict car-listing parsing, train-only outlier removal, the C -> F neuron."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from stages.common.errors import StageError
from stages.common.params import CarsTrainParams, FahrenheitParams
from stages.lessons.cars_prepare import BadRow, parse_listings, parse_miles, parse_money
from stages.lessons.cars_train import outlier_bounds, train_and_score
from stages.lessons.fahrenheit import sweep
from tests.conftest import ROOT

HEADER = "brand,model,model_year,milage,fuel_type,accident,clean_title,price\n"


def test_money_and_miles_parse_exactly():
    assert parse_money("$10,300") == 10300 and parse_money("$950") == 950 and parse_money("$2,954,083") == 2954083
    assert parse_miles("51,000 mi.") == 51000 and parse_miles("0 mi.") == 0


@pytest.mark.parametrize("text", ["10,300", "$10.300", "$1,0000", "", "$-5", "$ 100", "$10,300.50", "USD 5"])
def test_bad_money_is_refused(text):
    with pytest.raises(BadRow, match="price"):
        parse_money(text)


@pytest.mark.parametrize("text", ["51,000", "51,000 km", "51000mi.", "-5 mi.", "5,00 mi.", "many mi."])
def test_bad_mileage_is_refused(text):
    with pytest.raises(BadRow, match="milage"):
        parse_miles(text)


def test_bad_rows_are_reported_by_csv_line():
    text = (
        HEADER
        + 'Ford,"Model with, comma",2013,"51,000 mi.",Gasoline,None reported,Yes,"$10,300"\n'
        + 'Kia,"two\nline model",2015,"1,000 mi.",Gasoline,None reported,Yes,"$9,000"\n'  # lines 3-4
        + 'Audi,A4,2019,"12,000 km",Gasoline,None reported,Yes,"$20,000"\n'  # line 5: bad mileage
        + 'BMW,X5,20x9,"1 mi.",Diesel,,,"$5"\n'  # line 6: bad year
    )
    with pytest.raises(StageError) as error:
        parse_listings(text, "error")
    assert "line 5: milage '12,000 km'" in str(error.value) and "line 6: model_year '20x9'" in str(error.value)
    listings, summary = parse_listings(text, "skip")
    assert len(listings) == 2 and summary["bad_rows"] == 2 and summary["rows_read"] == 4
    assert listings["price"].tolist() == [10300, 9000] and listings["mileage"].tolist() == [51000, 1000]


def test_missing_columns_are_named():
    with pytest.raises(StageError, match="missing column.*milage"):
        parse_listings("brand,model_year,price\nFord,2013,$5\n", "error")


def test_wrong_field_count_is_a_bad_row():
    good = 'Kia,K,2015,"1 mi.",Gasoline,None reported,Yes,"$9"\n'
    _, summary = parse_listings(HEADER + good + 'Ford,F,2013,"5 mi.",Gasoline,None reported,Yes,"$5",extra\n', "skip")
    assert summary["bad_rows"] == 1 and "line 3: expected 8 fields" in summary["bad_row_examples"][0]
    with pytest.raises(StageError, match="no listing parsed"):
        parse_listings(HEADER + 'Ford,F,2013,"5 mi.",Gasoline\n', "skip")


def synthetic_listings(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    year = rng.integers(2000, 2024, n)
    mileage = rng.uniform(0, 200_000, n)
    price = 60_000 - 1_500 * (2024 - year) - 0.1 * mileage + rng.normal(0, 3_000, n)
    price[:8] = 5_000_000  # a few absurd listings
    return pd.DataFrame(
        {"brand": "X", "model_year": year, "mileage": mileage, "price": np.abs(price), "fuel_type": "Gasoline",
         "transmission": "A/T", "accident": 0, "accident_unknown": 0, "clean_title": 1}
    )  # fmt: skip


def test_outliers_are_removed_from_train_only():
    listings, params = synthetic_listings(), CarsTrainParams()
    metrics, _ = train_and_score(listings, params)
    train_idx, test_idx = train_test_split(listings.index, test_size=params.test, random_state=params.seed)
    assert metrics["outlier_bounds"] == pytest.approx(
        list(outlier_bounds(listings.loc[train_idx, "price"], params)), abs=0.01
    )
    in_train = int((listings.loc[train_idx, "price"] > 1e6).sum())
    assert metrics["rows"]["train_kept"] == len(train_idx) - in_train and metrics["rows"]["test"] == len(test_idx)
    assert metrics["rows"]["test_trimmed"] == len(test_idx) - int((listings.loc[test_idx, "price"] > 1e6).sum())
    # trimming helps on the trimmed test set: the absurd listings no longer drag the line
    trimmed = metrics["test_trimmed"]
    assert trimmed["neuron"]["rmse"] < trimmed["neuron_untrimmed_train"]["rmse"]


@pytest.mark.slow
def test_price_neuron_matches_linear_regression_on_the_real_listings():
    from stages.lessons.cars_prepare import parse_listings as parse

    text = (ROOT / "data" / "vendor" / "used_cars" / "used_cars.csv").read_text(encoding="utf-8-sig")
    listings, summary = parse(text, "error")
    assert summary["listings"] == 4009
    for target in ("price", "log_price"):
        metrics, _ = train_and_score(listings, CarsTrainParams(target=target))
        assert abs(metrics["neuron_rmse_over_linear_regression"] - 1) < 0.01, (target, metrics)


def test_celsius_neuron_recovers_the_rule_at_a_sensible_lr_and_diverges_when_too_high():
    metrics, curves = sweep(FahrenheitParams(learning_rates=[1e-5, 1e-3, 2e-3]))
    good = metrics["learning_rates"]["lr=0.001"]
    assert good["weight"] == pytest.approx(1.8, rel=0.01) and good["bias"] == pytest.approx(32, rel=0.01)
    assert good["iterations_to_converge"] is not None
    assert metrics["learning_rates"]["lr=1e-05"]["iterations_to_converge"] is None  # too low: still far off
    assert metrics["learning_rates"]["lr=0.002"]["diverged_at_iteration"] is not None  # too high
    assert list(curves.columns) == ["iteration", "lr=1e-05", "lr=0.001", "lr=0.002"]


def test_lesson_numbers_read_as_the_report_shows_them():
    from stages.common.lesson_tables import MISSING, number

    assert number(15213.47, 2) == "15,213.47" and number(0.46623, 4) == "0.4662" and number(-0.0022) == "-0.0022"
    assert number(3182) == "3,182" and number(14) == "14"  # counts: separators, no decimals
    assert number(None) == MISSING == "–" and number(float("nan")) == MISSING and number(float("-inf")) == MISSING


def test_cars_and_fahrenheit_tables_are_formatted_once_for_report_and_app():
    from stages.common.lesson_tables import cars_table, fahrenheit_table

    block = {"neuron": {"rmse": 15213.47, "mae": 11786.35, "r2": 0.4662}}
    cars = cars_table({"test_full": block, "test_trimmed": block})
    assert cars.header == ["model", "RMSE (full test)", "MAE (full test)", "R² (full test)", "RMSE (trimmed test)",
                           "MAE (trimmed test)", "R² (trimmed test)"]  # fmt: skip
    assert cars.rows == [["neuron", *["15,213.47", "11,786.35", "0.4662"] * 2]]
    rates = {
        "lr=0.001": {
            "weight": 1.793912,
            "bias": 31.890412,
            "iterations_to_converge": 3182,
            "diverged_at_iteration": None,
        },
        "lr=0.002": {"weight": None, "bias": None, "iterations_to_converge": None, "diverged_at_iteration": 14},
    }
    assert fahrenheit_table({"learning_rates": rates}).rows == [
        ["lr=0.001", "1.7939", "31.8904", "3,182", "–"],
        ["lr=0.002", "–", "–", "–", "14"],
    ]


@pytest.mark.parametrize(
    ("low", "high", "said"),
    [
        (-32373.5, 99422.0, "prices above $99,422"),  # the IQR rule on skewed prices: no car is below $0
        (0.0, 99422.0, "prices above $99,422"),
        (1200.0, 99422.0, "prices outside [$1,200, $99,422]"),
        (float("-inf"), float("inf"), "no prices"),  # cars_train.outliers: none
    ],
)
def test_the_dropped_price_range_never_states_a_negative_price(low, high, said):
    from stages.common.lesson_tables import dropped_prices

    assert dropped_prices(low, high) == said
