"""Featurizers side by side on the test split: point metrics, bootstrap intervals, paired differences.

Shared by the compare stage and `spam compare`, so both print the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages.common.errors import StageError
from stages.common.metrics import (
    COUNT_METRICS,
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
    """One featurizer's test metrics in compare.json: every COUNT_METRICS point value (`metrics`, by name; flat
    in the JSON, first), bootstrap intervals, and what evaluate measured on the scores (ranking and calibration;
    None until `with_evaluation`)."""

    metrics: dict[str, float]
    f1_ci95: list[float]
    mcc_ci95: list[float]
    roc_auc: float | None = None
    pr_auc: float | None = None
    calibration: str | None = None  # the method train fitted (train.NAME.calibration)
    brier: float | None = None
    ece: float | None = None
    ece_uncalibrated: float | None = None

    def to_json(self) -> dict:
        fields = asdict(self)
        return {**fields.pop("metrics"), **fields}

    @classmethod
    def from_json(cls, row: dict) -> FeaturizerScores:
        """The inverse of to_json: every key that is not a field of this class is a point metric."""
        fields = {f.name for f in dataclass_fields(cls)} - {"metrics"}
        return cls(
            metrics={k: v for k, v in row.items() if k not in fields}, **{k: v for k, v in row.items() if k in fields}
        )


@dataclass
class PairedChange:
    """One featurizer (`new`) against another (`old`) on the same resampled messages."""

    old: str
    new: str
    changes: dict[str, MetricChange]

    @classmethod
    def from_json(cls, pair: dict) -> PairedChange:
        changes = {metric: MetricChange(**change) for metric, change in pair["changes"].items()}
        return cls(pair["old"], pair["new"], changes)


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
    # The featurizer with the highest test MCC point value (the first in params.yaml's order on a tie), and each
    # other one against it: only the pairs that vs_baseline and vs_parts do not already hold.
    best: str = ""
    vs_best: list[PairedChange] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["featurizers"] = {name: row.to_json() for name, row in self.featurizers.items()}
        return data

    def paired(self) -> list[PairedChange]:
        """Every pairwise table the reports show: each featurizer against the baseline, each concat featurizer
        against its parts (the comparison that says whether joining them helped), then the rest against the best."""
        against_baseline = [PairedChange(self.baseline, name, diff) for name, diff in self.vs_baseline.items()]
        return against_baseline + self.vs_parts + self.vs_best

    @classmethod
    def from_json(cls, data: dict) -> Comparison:
        return cls(
            **{
                **data,
                "featurizers": {name: FeaturizerScores.from_json(row) for name, row in data["featurizers"].items()},
                "vs_baseline": {
                    name: {metric: MetricChange(**change) for metric, change in diff.items()}
                    for name, diff in data["vs_baseline"].items()
                },
                "vs_parts": [PairedChange.from_json(pair) for pair in data.get("vs_parts", [])],
                "vs_best": [PairedChange.from_json(pair) for pair in data.get("vs_best", [])],
            }
        )


def best_featurizer(points: dict[str, dict[str, float]]) -> str:
    """The highest test MCC point value; on a tie the first in order (params.yaml's)."""
    return max(points, key=lambda name: points[name]["mcc"])


def compare_featurizers(
    predictions: dict[str, pd.DataFrame],
    baseline: str,
    resamples: int,
    seed: int,
    concat_parts: dict[str, list[str]] | None = None,
) -> Comparison:
    """Every featurizer's test metrics with bootstrap intervals, each one's paired change against `baseline`,
    each concat featurizer's against its parts (`concat_parts`, those compared here and not the baseline), and
    each against the best one where that pair is not already there; one bootstrap per featurizer, on the same
    resampled messages for all."""
    labels, predicted = aligned(predictions)
    indices = resample_indices(len(labels), resamples, seed)
    points = {name: point_metrics(labels, guess) for name, guess in predicted.items()}
    boots = {name: resampled_metrics(labels, guess, indices) for name, guess in predicted.items()}

    def change(old: str, new: str) -> dict[str, MetricChange]:
        return paired_difference(points[old], points[new], boots[old], boots[new])

    rows = {
        name: FeaturizerScores(points[name], f1_ci95=interval(boots[name]["f1"]), mcc_ci95=interval(boots[name]["mcc"]))
        for name in predicted
    }
    vs_parts = [
        PairedChange(part, name, change(part, name))
        for name, parts in (concat_parts or {}).items()
        if name in predicted
        for part in parts
        if part in predicted and part != baseline
    ]
    best = best_featurizer(points)
    shown = {frozenset((baseline, name)) for name in predicted} | {frozenset((p.old, p.new)) for p in vs_parts}
    return Comparison(
        baseline=baseline,
        resamples=resamples,
        seed=seed,
        test_messages=int(len(labels)),
        test_spam=int(labels.sum()),
        featurizers=rows,
        vs_baseline={name: change(baseline, name) for name in predicted if name != baseline},
        vs_parts=vs_parts,
        best=best,
        vs_best=[
            PairedChange(best, name, change(best, name))
            for name in predicted
            if name != best and frozenset((best, name)) not in shown
        ],
    )


SUMMARY_METRICS = (*COUNT_METRICS, "roc_auc")
SUMMARY_HEADER = ["featurizer", *SUMMARY_METRICS, "F1 95 % CI", "MCC 95 % CI"]


def summary_rows(report: Comparison) -> list[list[str]]:
    """One formatted row per featurizer (SUMMARY_HEADER's columns), for the markdown and HTML reports."""
    return [
        [name]
        + [f"{row.metrics[m]:.4f}" for m in COUNT_METRICS]
        + ["–" if row.roc_auc is None else f"{row.roc_auc:.4f}"]
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
