"""The used-car lesson under a few settings, in one process: what trimming, log-price and extra columns buy.

Same code as the cars_train stage (`train_and_score`); each row equals `dvc exp run -S cars_train.<key>=...`.
Run after `dvc repro cars_prepare`:
    python bench/cars_variants.py
"""

from __future__ import annotations

import pandas as pd

from stages.common.params import CarsTrainParams
from stages.lessons.cars_train import train_and_score

VARIANTS = {
    "defaults (price, IQR trim)": {},
    "no outlier removal": {"outliers": "none"},
    "log_price target": {"target": "log_price"},
    "log_price + accident, clean_title, fuel_type": {
        "target": "log_price",
        "extra_features": ["accident", "clean_title", "fuel_type"],
    },
}
MODELS = ("neuron", "linear_regression", "predict_the_mean", "hist_gradient_boosting_all_columns")


def main() -> None:
    listings = pd.read_parquet("data/cars/listings.parquet")
    print(f"{'variant':<46} {'model':<36} {'full RMSE':>10} {'full MAE':>9} {'trim RMSE':>10} {'trim R2':>8}")
    for name, overrides in VARIANTS.items():
        metrics, _ = train_and_score(listings, CarsTrainParams(**overrides))
        for model in MODELS:
            full, trimmed = metrics["test_full"][model], metrics["test_trimmed"][model]
            print(
                f"{name:<46} {model:<36} {full['rmse']:10,.0f} {full['mae']:9,.0f} "
                f"{trimmed['rmse']:10,.0f} {trimmed['r2']:8.4f}"
            )
        print(f"{'':<46} neuron RMSE / linear regression RMSE = {metrics['neuron_rmse_over_linear_regression']}")


if __name__ == "__main__":
    main()
