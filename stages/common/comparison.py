"""Featurizers side by side on the test split: point metrics, bootstrap intervals, paired differences.

Shared by the compare stage and `spam compare`, so both print the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.cli import StageError
from stages.common.metrics import interval, paired_difference, point_metrics, resample_indices, resampled_metrics


def read_test_predictions(path: Path) -> pd.DataFrame:
    """The test rows of evaluate's predictions (id, label, predicted), sorted by id."""
    if not Path(path).exists():
        name = Path(path).stem
        raise StageError(f"no predictions for {name!r} at {path}: run `dvc repro evaluate@{name}`")
    frame = pd.read_parquet(path, columns=["id", "split", "label", "predicted"])
    return frame[frame["split"] == "test"].sort_values("id").reset_index(drop=True)


def aligned(predictions: dict[str, pd.DataFrame]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels and each featurizer's predictions over the same test messages, in the same order."""
    frames = list(predictions.values())
    first = frames[0]
    for name, frame in predictions.items():
        if not frame["id"].equals(first["id"]):
            raise StageError(f"{name}'s test messages differ from the others': rerun `dvc repro`")
    return first["label"].to_numpy(), {name: frame["predicted"].to_numpy() for name, frame in predictions.items()}


def compare_featurizers(predictions: dict[str, pd.DataFrame], baseline: str, resamples: int, seed: int) -> dict:
    labels, predicted = aligned(predictions)
    indices = resample_indices(len(labels), resamples, seed)
    rows = {}
    for name, guess in predicted.items():
        boot = resampled_metrics(labels, guess, indices)
        rows[name] = point_metrics(labels, guess) | {"f1_ci95": interval(boot["f1"]), "mcc_ci95": interval(boot["mcc"])}
    return {
        "baseline": baseline,
        "resamples": resamples,
        "seed": seed,
        "test_messages": int(len(labels)),
        "test_spam": int(labels.sum()),
        "featurizers": rows,
        "vs_baseline": {
            name: paired_difference(labels, predicted[baseline], guess, indices)
            for name, guess in predicted.items()
            if name != baseline
        },
    }


SUMMARY_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "mcc", "roc_auc")
SUMMARY_HEADER = ["featurizer", *SUMMARY_METRICS, "F1 95 % CI", "MCC 95 % CI"]


def summary_rows(report: dict) -> list[list[str]]:
    """One formatted row per featurizer (SUMMARY_HEADER's columns), for the markdown and HTML reports."""
    return [
        [name]
        + [f"{row[m]:.4f}" for m in SUMMARY_METRICS]
        + [f"{row[k][0]:.3f}–{row[k][1]:.3f}" for k in ("f1_ci95", "mcc_ci95")]
        for name, row in report["featurizers"].items()
    ]


def diff_header(old: str, new: str) -> list[str]:
    return ["metric", old, new, "change", "95 % CI of change", "confirmed"]


def diff_rows(diff: dict) -> list[list[str]]:
    """`dvc metrics diff`'s shape (metric, old, new, change) plus the paired interval of the change."""
    return [
        [
            metric,
            f"{d['old']:.4f}",
            f"{d['new']:.4f}",
            f"{d['change']:+.4f}",
            f"[{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]",
            "yes" if d["confirmed"] else "no",
        ]
        for metric, d in diff.items()
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| --- " * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def diff_table(diff: dict, old: str, new: str) -> str:
    """The diff as aligned plain text, as `spam compare` prints it."""
    header, rows = diff_header(old, new), diff_rows(diff)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows])
