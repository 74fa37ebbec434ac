"""The lessons' tables as a person reads them: the report and the app both show these."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Formatted once for the report (stages/report.py) and the app (stages/user/app.py), so that the two cannot
# drift: money with thousands separators and 2 decimals, R² and learned weights with 4,
# counts with separators, and "–" where there is no value (a learning rate that diverged has no weight).
MISSING = "–"
CARS_COLUMNS = (("rmse", "RMSE", 2), ("mae", "MAE", 2), ("r2", "R²", 4))  # (metrics key, header, decimals)
CARS_BLOCKS = (("test_full", "full test"), ("test_trimmed", "trimmed test"))


@dataclass(frozen=True)
class LessonTable:
    """Header and rows as text, already formatted; the report writes them as HTML, the app as a grid."""

    header: list[str]
    rows: list[list[str]]


def number(value: float | None, decimals: int = 4) -> str:
    """1234.5 -> "1,234.5000"; an integer keeps no decimals (3182 -> "3,182"); None or not finite -> "–"."""
    if value is None or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{decimals}f}"


def cars_table(metrics: dict) -> LessonTable:
    """Every model's RMSE, MAE and R² on the full and on the trimmed test set (reports/cars/metrics.json)."""
    header = ["model"] + [f"{label} ({block})" for _, block in CARS_BLOCKS for _, label, _ in CARS_COLUMNS]
    rows = [
        [name]
        + [number(metrics[block][name][key], decimals) for block, _ in CARS_BLOCKS for key, _, decimals in CARS_COLUMNS]
        for name in metrics["test_full"]
    ]
    return LessonTable(header, rows)


def fahrenheit_table(metrics: dict) -> LessonTable:
    """Per learning rate: the learned weight and bias, and when it converged or diverged."""
    header = ["learning rate", "weight", "bias", "iterations to converge", "diverged at"]
    rows = [
        [
            name,
            number(row["weight"]),
            number(row["bias"]),
            number(row["iterations_to_converge"]),
            number(row["diverged_at_iteration"]),
        ]
        for name, row in metrics["learning_rates"].items()
    ]
    return LessonTable(header, rows)


def dropped_prices(low: float, high: float) -> str:
    """Which train prices the outlier rule drops, said truly: a bound below $0 (the IQR rule's lower bound
    on skewed prices) drops no car, so it is not stated as if it did."""
    has_low, has_high = math.isfinite(low) and low > 0, math.isfinite(high)
    if has_low and has_high:
        return f"prices outside [${low:,.0f}, ${high:,.0f}]"
    if has_high:
        return f"prices above ${high:,.0f}"
    if has_low:
        return f"prices below ${low:,.0f}"
    return "no prices"
