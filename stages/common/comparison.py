"""Featurizers side by side on the test split: point metrics, bootstrap intervals, paired differences.

Shared by the compare stage and `spam compare`, so both print the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages.common.errors import StageError
from stages.common.metrics import (
    MetricChange,
    interval,
    paired_difference,
    point_metrics,
    resample_indices,
    resampled_metrics,
)

if TYPE_CHECKING:  # pandas only where predictions are read: report imports this module for its tables
    import pandas as pd


def read_test_predictions(path: Path) -> pd.DataFrame:
    """The test rows of evaluate's predictions (id, label, predicted), sorted by id."""
    if not Path(path).exists():
        name = Path(path).stem
        raise StageError(f"no predictions for {name!r} at {path}: run `dvc repro evaluate@{name}`")
    import pandas as pd

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


@dataclass
class FeaturizerScores:
    """One featurizer's test metrics in compare.json: point values, bootstrap intervals, and what evaluate
    measured on the scores (ranking and calibration; None until `with_evaluation`)."""

    accuracy: float
    precision: float
    recall: float
    specificity: float
    f1: float
    mcc: float
    f1_ci95: list[float]
    mcc_ci95: list[float]
    roc_auc: float | None = None
    pr_auc: float | None = None
    calibration: str | None = None  # the method train fitted (train.NAME.calibration)
    brier: float | None = None
    ece: float | None = None
    ece_uncalibrated: float | None = None


@dataclass
class PairedChange:
    """One featurizer (`new`) against another (`old`) on the same resampled messages."""

    old: str
    new: str
    changes: dict[str, MetricChange]


@dataclass
class Comparison:
    """What the compare stage writes to reports/compare.json (and `spam compare` prints part of)."""

    baseline: str
    resamples: int
    seed: int
    test_messages: int
    test_spam: int
    featurizers: dict[str, FeaturizerScores]
    vs_baseline: dict[str, dict[str, MetricChange]]
    left_out: list[str] = field(default_factory=list)
    vs_parts: list[PairedChange] = field(default_factory=list)  # a concat featurizer against each of its parts

    def to_json(self) -> dict:
        return asdict(self)

    def paired(self) -> list[PairedChange]:
        """Every pairwise table the reports show: each featurizer against the baseline, then each concat
        featurizer against its parts (the comparison that says whether joining them helped)."""
        against_baseline = [PairedChange(self.baseline, name, diff) for name, diff in self.vs_baseline.items()]
        return against_baseline + self.vs_parts

    @classmethod
    def from_json(cls, data: dict) -> Comparison:
        return cls(
            **{
                **data,
                "featurizers": {name: FeaturizerScores(**row) for name, row in data["featurizers"].items()},
                "vs_baseline": {
                    name: {metric: MetricChange(**change) for metric, change in diff.items()}
                    for name, diff in data["vs_baseline"].items()
                },
                "vs_parts": [
                    PairedChange(
                        pair["old"],
                        pair["new"],
                        {metric: MetricChange(**change) for metric, change in pair["changes"].items()},
                    )
                    for pair in data.get("vs_parts", [])
                ],
            }
        )


def compare_featurizers(
    predictions: dict[str, pd.DataFrame],
    baseline: str,
    resamples: int,
    seed: int,
    concat_parts: dict[str, list[str]] | None = None,
) -> Comparison:
    """Every featurizer's test metrics with bootstrap intervals, each one's paired change against `baseline`,
    and each concat featurizer's against its parts (`concat_parts`, those compared here and not the baseline);
    one bootstrap per featurizer, on the same resampled messages for all."""
    labels, predicted = aligned(predictions)
    indices = resample_indices(len(labels), resamples, seed)
    points = {name: point_metrics(labels, guess) for name, guess in predicted.items()}
    boots = {name: resampled_metrics(labels, guess, indices) for name, guess in predicted.items()}
    rows = {
        name: FeaturizerScores(
            **points[name], f1_ci95=interval(boots[name]["f1"]), mcc_ci95=interval(boots[name]["mcc"])
        )
        for name in predicted
    }
    return Comparison(
        baseline=baseline,
        resamples=resamples,
        seed=seed,
        test_messages=int(len(labels)),
        test_spam=int(labels.sum()),
        featurizers=rows,
        vs_baseline={
            name: paired_difference(points[baseline], points[name], boots[baseline], boots[name])
            for name in predicted
            if name != baseline
        },
        vs_parts=[
            PairedChange(part, name, paired_difference(points[part], points[name], boots[part], boots[name]))
            for name, parts in (concat_parts or {}).items()
            if name in predicted
            for part in parts
            if part in predicted and part != baseline
        ],
    )


SUMMARY_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "mcc", "roc_auc")
SUMMARY_HEADER = ["featurizer", *SUMMARY_METRICS, "F1 95 % CI", "MCC 95 % CI"]


def summary_rows(report: Comparison) -> list[list[str]]:
    """One formatted row per featurizer (SUMMARY_HEADER's columns), for the markdown and HTML reports."""
    return [
        [name]
        + [f"{getattr(row, m):.4f}" for m in SUMMARY_METRICS]
        + [f"{ci[0]:.3f}–{ci[1]:.3f}" for ci in (row.f1_ci95, row.mcc_ci95)]
        for name, row in report.featurizers.items()
    ]


def diff_header(old: str, new: str) -> list[str]:
    return ["metric", old, new, "change", "95 % CI of change", "confirmed"]


def diff_rows(diff: dict[str, MetricChange]) -> list[list[str]]:
    """`dvc metrics diff`'s shape (metric, old, new, change) plus the paired interval of the change."""
    return [
        [
            metric,
            f"{d.old:.4f}",
            f"{d.new:.4f}",
            f"{d.change:+.4f}",
            f"[{d.ci95[0]:+.4f}, {d.ci95[1]:+.4f}]",
            "yes" if d.confirmed else "no",
        ]
        for metric, d in diff.items()
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| --- " * len(header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def diff_table(diff: dict[str, MetricChange], old: str, new: str) -> str:
    """The diff as aligned plain text, as `spam compare` prints it."""
    header, rows = diff_header(old, new), diff_rows(diff)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows])
