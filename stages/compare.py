"""Stage 7: one table of every featurizer's test metrics, with bootstrap intervals, against a baseline.

Writes reports/compare.json, reports/compare.md and reports/figures/compare.png. Changes against the
baseline, and of each concat featurizer against its parts, have the shape of `dvc metrics diff` (metric, old,
new, change) plus a paired 95 % bootstrap interval: both featurizers are scored on the same resampled messages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from stages.common import layout
from stages.common.calibration import ECE_BINS
from stages.common.cli import OnlyOption, covered_featurizers, reports_errors, stage_app
from stages.common.comparison import (
    SUMMARY_HEADER,
    Comparison,
    compare_featurizers,
    diff_header,
    diff_rows,
    markdown_table,
    read_test_predictions,
    summary_rows,
)
from stages.common.figures import readable_figure, save_figure
from stages.common.io import read_json, write_bytes, write_json
from stages.common.params import load_params
from stages.common.seeds import read_seed_verdicts, seeds_markdown

app = stage_app(__doc__)


def markdown_report(report: Comparison, requested_baseline: str | None = None) -> str:
    """compare.md; `requested_baseline`: params.yaml's compare.baseline, named when it is not the one compared."""
    baseline = report.baseline
    lines = [
        "# Featurizers compared on the test split",
        "",
        f"Test split: {report.test_messages} messages ({report.test_spam} spam). Intervals: 95 % bootstrap, "
        f"{report.resamples:,} resamples (seed {report.seed}).",
        "",
        markdown_table(SUMMARY_HEADER, summary_rows(report)),
    ]
    if report.left_out:
        lines += ["", f"Partial: {', '.join(report.left_out)} left out of this run (`spam repro` says why)."]
    if requested_baseline not in (None, baseline):
        lines += ["", f"Baseline: {baseline}, as compare.baseline ({requested_baseline}) was not compared in this run."]
    lines += ["", best_sentence(report)]
    for pair in report.paired():
        table = markdown_table(diff_header(pair.old, pair.new), diff_rows(pair.changes))
        lines += ["", f"## {pair.new} vs {pair.old}", "", table]
    lines += [
        "",
        "A change is **confirmed** when its paired interval excludes 0; otherwise this test set cannot tell "
        "the two featurizers apart on that metric.",
        "",
        "## Calibration (test)",
        "",
        "Do the printed probabilities mean what they say? Brier score, and expected calibration error over "
        f"{ECE_BINS} equal-width bins, of the probabilities `spam predict` prints, and ECE before the optional "
        "recalibration fitted on val (`train.<name>.calibration`); reliability diagrams: "
        "reports/eval/<name>/figures/reliability.png.",
        "",
        markdown_table(CALIBRATION_HEADER, calibration_rows(report)),
        "",
        "![test F1 and MCC with 95 % intervals](figures/compare.png)",
        "",
    ]
    return "\n".join(lines)


def best_sentence(report: Comparison) -> str:
    """Which featurizer is best, by what, and why that measure; every other one is paired with it below."""
    mcc = report.featurizers[report.best].metrics["mcc"]
    return (
        f"Best: **{report.best}**, the highest test MCC point value ({mcc:.4f}). MCC, because it counts both "
        f"classes' errors: with {report.test_spam} spam among {report.test_messages} messages, accuracy is high even "
        f"for a model that misses spam. Every other featurizer is paired with {report.best} below, once (a pair "
        "already shown against the baseline or as a concat's part is not repeated); a paired interval that "
        "includes 0 means this test set cannot tell it from the best."
    )


CALIBRATION_HEADER = ["featurizer", "calibration", "Brier", "ECE", "ECE uncalibrated"]


def calibration_rows(report: Comparison) -> list[list[str]]:
    def number(value: float | None) -> str:
        return "–" if value is None else f"{value:.4f}"

    return [
        [name, row.calibration, number(row.brier), number(row.ece), number(row.ece_uncalibrated)]
        for name, row in report.featurizers.items()
    ]


def draw_chart(report: Comparison, path: Path) -> None:
    """Bars from 0 (a cut axis would inflate the gaps), each labelled with its value; legend beside the axes."""
    names = list(report.featurizers)
    x = np.arange(len(names))
    fig, ax = readable_figure((1.5 * len(names) + 3.4, 4.6))
    for offset, metric in ((-0.19, "f1"), (0.19, "mcc")):
        values = np.array([report.featurizers[n].metrics[metric] for n in names])
        ci = np.array([getattr(report.featurizers[n], f"{metric}_ci95") for n in names])
        errors = np.vstack([values - ci[:, 0], ci[:, 1] - values])
        bars = ax.bar(x + offset, values, width=0.36, yerr=errors, capsize=4, label=f"test {metric.upper()}")
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], label_type="center", color="white", fontsize=9)
    ax.set_xticks(x, names)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("score (1 = perfect)")
    ax.set_title("Test F1 and MCC per featurizer\n(black whiskers: 95 % bootstrap intervals)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save_figure(fig, path)


def with_evaluation(report: Comparison, evaluations: dict[str, dict], calibrations: dict[str, str]) -> Comparison:
    """Add what evaluate measured on the scores (test ROC/PR-AUC, Brier, ECE) and each calibration method."""
    for name, row in report.featurizers.items():
        test = evaluations[name]["test"]
        row.roc_auc, row.pr_auc = test["roc_auc"], test["pr_auc"]
        row.calibration = calibrations[name]
        row.brier, row.ece, row.ece_uncalibrated = test.get("brier"), test.get("ece"), test.get("ece_uncalibrated")
    return report


def evaluated(featurizer: str, predictions_dir: Path, eval_dir: Path) -> bool:
    """Has evaluate written this featurizer's predictions and metrics?"""
    metrics = layout.eval_dir(featurizer, eval_dir) / layout.ALL_METRICS
    return layout.predictions_file(featurizer, predictions_dir).is_file() and metrics.is_file()


@app.command()
@reports_errors
def main(
    predictions_dir: Path = typer.Option(layout.PREDICTIONS_DIR, help="evaluate's per-message scores"),
    eval_dir: Path = typer.Option(layout.EVAL_DIR, help="evaluate's metrics JSON, one directory per featurizer"),
    output_dir: Path = typer.Option(layout.REPORTS_DIR, help="where compare.json, compare.md, figures/ go"),
    seeds_file: Path = typer.Option(layout.SEEDS_JSON, help="bench/seeds.py's results over several split seeds"),
    only: OnlyOption = None,
) -> None:
    """Compare every featurizer in params.yaml `featurizers` that evaluate has scored against `compare.baseline`.

    A run that left some out (offline, their models not loadable) compares the rest and says which are missing:
    what is covered follows from this stage's deps (the predictions and eval directories), so DVC runs and
    records it like any other run.
    """
    params = load_params()
    settings = params.compare
    if only is None:
        scored = [name for name in params.featurizers if evaluated(name, predictions_dir, eval_dir)]
        only = ",".join(scored) or None  # none scored: cover them all, and name the first one missing
    names, left_out = covered_featurizers(params.featurizers, only)
    # A `featurizers` list trimmed to leave the baseline out still compares: against its first featurizer, said.
    baseline = settings.baseline if settings.baseline in names else names[0]
    predictions = {name: read_test_predictions(layout.predictions_file(name, predictions_dir)) for name in names}
    report = compare_featurizers(predictions, baseline, settings.resamples, settings.seed, params.concat_parts())
    report.left_out = left_out
    evaluations = {name: read_json(layout.eval_dir(name, eval_dir) / layout.ALL_METRICS) for name in names}
    # The method train fitted (its outputs, in reports/eval, change with it: a dep of this stage).
    with_evaluation(report, evaluations, {name: params.train[name].calibration for name in names})
    write_json(output_dir / layout.COMPARE_JSON, report.to_json())
    test_mcc = {name: evaluations[name]["test"]["mcc"] for name in names}
    across_seeds = seeds_markdown(read_seed_verdicts(seeds_file, test_mcc, params.split.seed))
    markdown = markdown_report(report, settings.baseline) + "\n" + across_seeds
    write_bytes(output_dir / layout.COMPARE_MD, markdown.encode())
    draw_chart(report, output_dir / layout.COMPARE_CHART)
    typer.echo(f"compared {len(names)} featurizers; best test MCC: {report.best} -> {output_dir / layout.COMPARE_MD}")


if __name__ == "__main__":
    app()
