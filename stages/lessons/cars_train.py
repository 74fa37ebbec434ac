"""Lesson stage: a single neuron predicts used-car prices from age and mileage (the course's regression).

Features are standardised with train statistics, `(X - mean) / std` as in the course; the target is
standardised too, so one learning rate suits both `price` and `log_price`. Price outliers are removed
from the train split only (`cars_train.outliers`); the test set is scored whole and trimmed by the same
bounds, and a second neuron trained on the untrimmed train split measures what the trimming buys.
Peers on the same split: predict-the-mean, LinearRegression on the same features (an MSE neuron is
linear regression, so they must agree), and HistGradientBoosting on all columns (the ceiling).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.figures import readable_figure, save_figure
from stages.common.io import atomic_dir, write_json
from stages.common.layout import CARS, CARS_LISTINGS, LESSON_METRICS, REPORTS_DIR
from stages.common.params import CarsTrainParams, load_params
from stages.common.precision import to_float32
from stages.common.standardise import Standardiser
from stages.lessons.regression import fit_linear
from stages.lessons.used_cars import NEURON_CARD, NEURON_WEIGHTS

app = stage_app(__doc__)
CATEGORICAL = ["brand", "fuel_type", "transmission"]  # for the gradient-boosting ceiling only
THOUSANDS_AXES = {"mileage_vs_price": "x", "predicted_vs_actual": "xy", "residuals": "xy"}


def car_features(listings: pd.DataFrame, params: CarsTrainParams) -> pd.DataFrame:
    """Age and mileage, plus the extra columns asked for (fuel type one-hot)."""
    features = pd.DataFrame(
        {"age": params.reference_year - listings["model_year"], "mileage": listings["mileage"]}, index=listings.index
    )
    for column in params.extra_features:
        if column == "fuel_type":
            features = features.join(pd.get_dummies(listings["fuel_type"], prefix="fuel", dtype=float))
        else:
            features[column] = listings[column].astype(float)
    return features


def outlier_bounds(prices: pd.Series, params: CarsTrainParams) -> tuple[float, float]:
    if params.outliers == "iqr":
        q1, q3 = prices.quantile([0.25, 0.75])
        return float(q1 - params.iqr_factor * (q3 - q1)), float(q3 + params.iqr_factor * (q3 - q1))
    if params.outliers == "quantiles":
        low, high = prices.quantile(list(params.quantiles))
        return float(low), float(high)
    return float("-inf"), float("inf")


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    return {
        "rmse": round(float(root_mean_squared_error(actual, predicted)), 2),
        "mae": round(float(mean_absolute_error(actual, predicted)), 2),
        "r2": round(float(r2_score(actual, predicted)), 4),
    }


@dataclass(frozen=True)
class CarsFit:
    """What the figures, the DVC plots and the app's sliders need from one cars_train run."""

    features: pd.DataFrame  # every listing's model inputs (age, mileage, extras)
    losses: list[float]  # the neuron's train MSE per epoch (standardised target)
    test_actual: np.ndarray
    test_predicted: np.ndarray  # the neuron's price for each test listing
    neuron_state: dict[str, np.ndarray]  # weight, bias, x/y mean and std: enough to price a car later


def train_and_score(listings: pd.DataFrame, params: CarsTrainParams) -> tuple[dict, CarsFit]:
    from sklearn.ensemble import HistGradientBoostingRegressor  # scikit-learn: ~0.7 s, not for `--help`
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import train_test_split

    """Every model's test metrics (full and trimmed test set; metrics.json as written) and the neuron's fit."""
    features = car_features(listings, params)
    train_idx, test_idx = train_test_split(listings.index, test_size=params.test, random_state=params.seed)
    low, high = outlier_bounds(listings.loc[train_idx, "price"], params)
    kept = train_idx[listings.loc[train_idx, "price"].between(low, high).to_numpy()]
    if len(kept) < 10:
        raise StageError(f"only {len(kept)} train rows left after outlier removal; loosen cars_train.outliers")
    test_trimmed = test_idx[listings.loc[test_idx, "price"].between(low, high).to_numpy()]

    def to_target(prices: pd.Series) -> np.ndarray:
        return np.log(prices.to_numpy()) if params.target == "log_price" else prices.to_numpy()

    def to_price(values: np.ndarray) -> np.ndarray:
        return np.exp(values) if params.target == "log_price" else values

    predictions, losses, neuron_weights, neuron_state = {}, None, {}, {}
    for name, rows in (("neuron", kept), ("neuron_untrimmed_train", train_idx)):
        scale_x = Standardiser.fit(features.loc[rows].to_numpy(float))
        target = to_target(listings.loc[rows, "price"])
        scale_y = Standardiser.fit(target)
        fit = fit_linear(
            scale_x(features.loc[rows].to_numpy(float)), scale_y(target), params.lr, params.epochs,
            optimizer=params.optimizer, seed=params.seed,
        )  # fmt: skip
        if fit.diverged_at is not None:
            raise StageError(f"the {name} diverged at epoch {fit.diverged_at}: lower cars_train.lr ({params.lr})")
        predictions[name] = to_price(scale_y.inverse(fit.predict(scale_x(features.to_numpy(float)))))
        if name == "neuron":
            losses = fit.losses
            neuron_state = {  # enough to price a car later (the app's sliders) without retraining
                "weight": fit.weight, "bias": np.array([fit.bias]), "x_mean": scale_x.mean, "x_std": scale_x.std,
                "y_mean": np.array([scale_y.mean]), "y_std": np.array([scale_y.std]),
            }  # fmt: skip
            neuron_weights = {
                "weights (per train std)": dict(
                    zip(features.columns, np.round(fit.weight * scale_y.std, 4), strict=True)
                ),
                "bias": round(float(scale_y.inverse(fit.bias)), 4),
            }
    scale_x = Standardiser.fit(features.loc[kept].to_numpy(float))
    linear = LinearRegression().fit(scale_x(features.loc[kept].to_numpy(float)), to_target(listings.loc[kept, "price"]))
    predictions["linear_regression"] = to_price(linear.predict(scale_x(features.to_numpy(float))))
    predictions["predict_the_mean"] = np.full(len(listings), listings.loc[kept, "price"].mean())
    everything = listings[["model_year", "mileage", "accident", "accident_unknown", "clean_title", *CATEGORICAL]].copy()
    everything[CATEGORICAL] = everything[CATEGORICAL].astype("category")
    boosting = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=params.seed)
    boosting.fit(everything.loc[kept], to_target(listings.loc[kept, "price"]))
    predictions["hist_gradient_boosting_all_columns"] = to_price(boosting.predict(everything))

    position = pd.Series(np.arange(len(listings)), index=listings.index)
    metrics = {"test_full": {}, "test_trimmed": {}}
    for block, rows in (("test_full", test_idx), ("test_trimmed", test_trimmed)):
        actual = listings.loc[rows, "price"].to_numpy()
        for name, predicted in predictions.items():
            metrics[block][name] = regression_metrics(actual, predicted[position[rows].to_numpy()])
    rmse = {name: row["rmse"] for name, row in metrics["test_full"].items()}
    metrics |= {
        "rows": {
            "train": len(train_idx),
            "train_kept": len(kept),
            "test": len(test_idx),
            "test_trimmed": len(test_trimmed),
        },
        "outlier_bounds": [round(low, 2), round(high, 2)],
        "neuron_rmse_over_linear_regression": round(rmse["neuron"] / rmse["linear_regression"], 4),
        "neuron": neuron_weights,
    }  # fmt: skip
    test_rows = position[test_idx].to_numpy()
    fit = CarsFit(
        features=features,
        losses=losses,
        test_actual=listings["price"].to_numpy()[test_rows],
        # Written to files: rounded, so that the last bits of a CPU's float64 kernels never reach them.
        test_predicted=np.round(predictions["neuron"][test_rows], 2),
        neuron_state={name: to_float32(values) for name, values in neuron_state.items()},
    )
    return metrics, fit


def below_zero(predicted: np.ndarray) -> str:
    """How many predicted prices are negative, said plainly: a straight line in age and mileage prices the
    oldest, most-driven cars below $0, which no listing is; the figure shows them rather than hiding them."""
    count = int((predicted < 0).sum())
    return f"{count:,} of {len(predicted):,} test cars priced below $0" if count else "no test car priced below $0"


def predicted_vs_actual(ax, actual: np.ndarray, predicted: np.ndarray) -> None:
    """The neuron's price against the listed one, the identity line on top (a point on it is priced right)."""
    top = np.quantile(actual, 0.99) * 1.05  # the few $1M+ cars would squash the rest
    ax.scatter(actual, predicted, s=8, alpha=0.4, label="a test car")
    ax.axline((0, 0), slope=1, color="black", linewidth=2, zorder=3, label="predicted = actual")
    if predicted.min() < 0:
        ax.axhspan(predicted.min() * 1.1, 0, color="tab:red", alpha=0.1, zorder=0, label=below_zero(predicted))
    ax.set_xlim(0, top)
    ax.set(xlabel="actual price ($, top 1 % cut)", ylabel="predicted ($)", title="Test: predicted vs actual")
    ax.legend(loc="lower right")  # the cheap cars crowd the upper left


def residuals(ax, actual: np.ndarray, predicted: np.ndarray) -> None:
    """What each test car's price is off by, against the neuron's price; zero is a perfect price."""
    errors = actual - predicted
    ax.scatter(predicted, errors, s=8, alpha=0.4)
    ax.axhline(0, color="black", linewidth=2, zorder=3)
    top = np.quantile(np.abs(errors), 0.99) * 1.1  # the few $1M+ cars would squash the rest to a line
    ax.set_ylim(-top, top)
    ax.set(xlabel="neuron's price ($)", ylabel="actual − predicted ($, top 1 % cut)", title="Test residuals")


def draw_figures(listings: pd.DataFrame, plot_data: CarsFit, figures: Path) -> None:
    from matplotlib.ticker import FuncFormatter

    figures.mkdir(parents=True, exist_ok=True)
    age, actual, predicted = plot_data.features["age"], plot_data.test_actual, plot_data.test_predicted
    drawings = {
        "mileage_vs_price": lambda ax: (
            ax.scatter(listings["mileage"], listings["price"], s=4, alpha=0.4),
            ax.set(xlabel="mileage (mi.)", ylabel="price ($)", yscale="log", title="Mileage vs price (all listings)"),
        ),
        "age_vs_price": lambda ax: (
            ax.scatter(age, listings["price"], s=4, alpha=0.4),
            ax.set(xlabel="age (years)", ylabel="price ($)", yscale="log", title="Age vs price (all listings)"),
        ),
        "predicted_vs_actual": lambda ax: predicted_vs_actual(ax, actual, predicted),
        "residuals": lambda ax: residuals(ax, actual, predicted),
        "loss": lambda ax: (
            ax.plot(plot_data.losses),
            ax.set(xlabel="epoch", ylabel="MSE (standardised target)", yscale="log", title="Neuron loss per epoch"),
        ),
    }  # fmt: skip
    thousands = FuncFormatter(lambda value, _: f"{value / 1000:,.0f}k" if value else "0")
    for name, draw in drawings.items():
        fig, ax = readable_figure()
        draw(ax)
        for axis in THOUSANDS_AXES.get(name, ""):  # 150000 -> 150k: long tick labels overlap
            getattr(ax, f"{axis}axis").set_major_formatter(thousands)
        save_figure(fig, figures / f"{name}.png")


@app.command()
@reports_errors
def main(
    listings_file: Path = typer.Option(CARS_LISTINGS, help="cars_prepare's output"),
    output: Path = typer.Option(REPORTS_DIR / CARS, help="metrics.json, DVC plot data, figures/"),
) -> None:
    """Train the used-car price neuron and its peers (params: cars_train)."""
    from dvclive import Live
    from safetensors.numpy import save_file

    params = load_params().cars_train
    listings = pd.read_parquet(listings_file)
    metrics, plot_data = train_and_score(listings, params)
    with atomic_dir(output) as tmp:
        with Live(dir=str(tmp), save_dvc_exp=False, dvcyaml=None) as live:
            live.log_plot(
                "predicted_vs_actual",
                pd.DataFrame({"actual": plot_data.test_actual, "predicted": plot_data.test_predicted}),
                x="actual", y="predicted", template="scatter", title="Test: neuron's price vs actual",
            )  # fmt: skip
            live.log_plot(
                "mileage_vs_price", listings[["mileage", "price"]], x="mileage", y="price", template="scatter",
                title="Mileage vs price",
            )  # fmt: skip
        write_json(tmp / LESSON_METRICS, metrics)
        save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in plot_data.neuron_state.items()},
                  str(tmp / NEURON_WEIGHTS))  # fmt: skip
        write_json(tmp / NEURON_CARD, {"features": list(plot_data.features.columns), "target": params.target,
                                         "reference_year": params.reference_year})  # fmt: skip
        draw_figures(listings, plot_data, tmp / "figures")
    rmse = ", ".join(f"{name} {row['rmse']:,.0f}" for name, row in metrics["test_full"].items())
    typer.echo(f"test RMSE: {rmse} -> {output}")


if __name__ == "__main__":
    app()
