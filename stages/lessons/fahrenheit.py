"""Lesson stage: one neuron (1 weight, 1 bias, random init) learns F = 1.8 * C + 32 from noisy pairs.

It trains once per learning rate in `fahrenheit.learning_rates` with plain SGD on raw Celsius values,
as the course's "Neuron Training" lesson does, and draws every loss curve on one chart: too low
converges slowly, too high diverges. Writes reports/fahrenheit/metrics.json (learned weight and bias,
iterations to converge, per learning rate), DVC plot data and a PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.figures import readable_figure, save_figure
from stages.common.io import atomic_dir, write_json
from stages.common.layout import FAHRENHEIT, LESSON_METRICS, REPORTS_DIR
from stages.common.params import FahrenheitParams, load_params
from stages.common.precision import round_significant
from stages.lessons.regression import LinearFit, fit_linear

app = stage_app(__doc__)
TRUE_WEIGHT, TRUE_BIAS = 1.8, 32.0
PLOT_POINTS = 500  # loss curves are thinned to this many points for the DVC plot


def noisy_pairs(params: FahrenheitParams) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(params.seed)
    celsius = rng.uniform(*params.celsius_range, size=params.samples)
    return celsius, TRUE_WEIGHT * celsius + TRUE_BIAS + rng.normal(0, params.noise, size=params.samples)


def iterations_to_converge(fit: LinearFit, best: tuple[float, float], tolerance: float) -> int | None:
    """First iteration from which the loss stays within `tolerance` (relative) of the least-squares loss."""
    losses = np.asarray(fit.losses)
    if fit.diverged_at is not None or not len(losses):
        return None
    inside = losses <= best[1] * (1 + tolerance)
    if not inside[-1]:
        return None
    outside = np.flatnonzero(~inside)
    return int(outside[-1] + 1) if len(outside) else 0


def sweep(params: FahrenheitParams) -> tuple[dict, pd.DataFrame]:
    celsius, fahrenheit = noisy_pairs(params)
    slope, intercept = np.polyfit(celsius, fahrenheit, 1)  # the best any neuron can do on this noise
    best_loss = float(np.mean((slope * celsius + intercept - fahrenheit) ** 2))
    results, curves = {}, {}
    for lr in params.learning_rates:
        fit = fit_linear(celsius, fahrenheit, lr, params.iterations, optimizer="sgd", seed=params.seed)
        results[f"lr={lr:g}"] = {
            "lr": lr,
            "weight": round(float(fit.weight[0]), 6) if fit.diverged_at is None else None,
            "bias": round(fit.bias, 6) if fit.diverged_at is None else None,
            "final_loss": round(fit.losses[-1], 6) if fit.diverged_at is None else None,
            "diverged_at_iteration": fit.diverged_at,
            "iterations_to_converge": iterations_to_converge(fit, (slope, best_loss), params.tolerance),
        }
        curves[f"lr={lr:g}"] = pd.Series([round_significant(loss) for loss in fit.losses])  # files: no last bits
    metrics = {
        "true": {"weight": TRUE_WEIGHT, "bias": TRUE_BIAS},
        "least_squares": {
            "weight": round(float(slope), 6),
            "bias": round(float(intercept), 6),
            "loss": round_significant(best_loss),
        },
        "learning_rates": results,
    }
    return metrics, pd.DataFrame(curves).rename_axis("iteration").reset_index()


def draw_losses(curves: pd.DataFrame, path: Path) -> None:
    fig, ax = readable_figure((9, 4.8))  # the report shows it the page's whole width
    for column in curves.columns.drop("iteration"):
        ax.plot(curves["iteration"], curves[column], label=column)
    ax.set(
        xlabel="iteration",
        ylabel="MSE (log scale)",
        yscale="log",
        title="One neuron learning C → F: loss per learning rate",
    )
    ax.set_ylim(top=min(ax.get_ylim()[1], 1e8))
    ax.legend()
    save_figure(fig, path)


@app.command()
@reports_errors
def main(output: Path = typer.Option(REPORTS_DIR / FAHRENHEIT, help="metrics, plot data and PNG")) -> None:
    """Train the Celsius -> Fahrenheit neuron at every learning rate in params.yaml `fahrenheit`."""
    from dvclive import Live

    params = load_params().fahrenheit
    metrics, curves = sweep(params)
    step = max(1, len(curves) // PLOT_POINTS)
    thinned = curves.iloc[::step]
    with atomic_dir(output) as tmp:
        with Live(dir=str(tmp), save_dvc_exp=False, dvcyaml=None) as live:
            for column in curves.columns.drop("iteration"):  # one file per lr: DVC overlays a directory
                points = thinned[["iteration", column]].dropna().rename(columns={column: "loss"})
                live.log_plot(f"loss/{column}", points, x="iteration", y="loss", title=f"C -> F neuron, {column}")
        write_json(tmp / LESSON_METRICS, metrics)
        draw_losses(curves, tmp / "loss.png")
    for name, row in metrics["learning_rates"].items():
        outcome = (
            f"diverged at iteration {row['diverged_at_iteration']}"
            if row["diverged_at_iteration"] is not None
            else f"w {row['weight']:.4f}, b {row['bias']:.4f}, "
            + (
                f"converged after {row['iterations_to_converge']} iterations"
                if row["iterations_to_converge"] is not None
                else f"not converged in {params.iterations} iterations"
            )
        )
        typer.echo(f"{name}: {outcome}")


if __name__ == "__main__":
    app()
