"""Stage 7: one table of every featurizer's test metrics, with bootstrap intervals, against a baseline.

Writes reports/compare.json, reports/compare.md and reports/figures/compare.png. Changes against the
baseline have the shape of `dvc metrics diff` (metric, old, new, change) plus a paired 95 % bootstrap
interval: both featurizers are scored on the same resampled test messages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from stages.common.cli import StageError, reports_errors, stage_app
from stages.common.comparison import (
    SUMMARY_HEADER,
    compare_featurizers,
    diff_header,
    diff_rows,
    markdown_table,
    read_test_predictions,
    summary_rows,
)
from stages.common.figures import plt, save_figure
from stages.common.io import read_json, write_bytes, write_json
from stages.common.params import load_params

app = stage_app(__doc__)


def markdown_report(report: dict) -> str:
    baseline = report["baseline"]
    lines = [
        "# Featurizers compared on the test split",
        "",
        f"Test split: {report['test_messages']} messages ({report['test_spam']} spam). Intervals: 95 % bootstrap, "
        f"{report['resamples']:,} resamples (seed {report['seed']}).",
        "",
        markdown_table(SUMMARY_HEADER, summary_rows(report)),
    ]
    for name, diff in report["vs_baseline"].items():
        table = markdown_table(diff_header(baseline, name), diff_rows(diff))
        lines += ["", f"## {name} vs {baseline}", "", table]
    lines += [
        "",
        "A change is **confirmed** when its paired interval excludes 0; otherwise this test set cannot tell "
        "the two featurizers apart on that metric.",
        "",
        "![test F1 and MCC with 95 % intervals](figures/compare.png)",
        "",
    ]
    return "\n".join(lines)


def draw_chart(report: dict, path: Path) -> None:
    names = list(report["featurizers"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 4), dpi=100)
    for offset, metric in ((-0.18, "f1"), (0.18, "mcc")):
        values = np.array([report["featurizers"][n][metric] for n in names])
        ci = np.array([report["featurizers"][n][f"{metric}_ci95"] for n in names])
        errors = np.vstack([values - ci[:, 0], ci[:, 1] - values])
        ax.bar(x + offset, values, width=0.36, yerr=errors, capsize=4, label=f"test {metric.upper()}")
    ax.set_xticks(x, names)
    lowest = min(min(report["featurizers"][n][f"{m}_ci95"][0] for n in names) for m in ("f1", "mcc"))
    ax.set_ylim(max(0.0, lowest - 0.05), 1.0)  # zoom in: the differences live near the top
    ax.set_title("Test F1 and MCC per featurizer (95 % bootstrap intervals)")
    ax.legend(loc="lower right")
    save_figure(fig, path)


@app.command()
@reports_errors
def main(
    predictions_dir: Path = typer.Option(Path("data/predictions"), help="evaluate's per-message scores"),
    metrics_dir: Path = typer.Option(Path("reports/metrics"), help="evaluate's metrics JSON"),
    output_dir: Path = typer.Option(Path("reports"), help="where compare.json, compare.md, figures/ go"),
) -> None:
    """Compare every featurizer in params.yaml `featurizers` against `compare.baseline`."""
    params = load_params()
    settings = params.compare
    names = params.featurizers
    if settings.baseline not in names:
        raise StageError(f"compare.baseline {settings.baseline!r} is not in featurizers {names}")
    predictions = {name: read_test_predictions(predictions_dir / f"{name}.parquet") for name in names}
    report = compare_featurizers(predictions, settings.baseline, settings.resamples, settings.seed)
    for name in names:
        test = read_json(metrics_dir / f"{name}.json")["test"]
        report["featurizers"][name]["roc_auc"] = test["roc_auc"]
        report["featurizers"][name]["pr_auc"] = test["pr_auc"]
    write_json(output_dir / "compare.json", report)
    write_bytes(output_dir / "compare.md", markdown_report(report).encode())
    draw_chart(report, output_dir / "figures" / "compare.png")
    best = max(names, key=lambda n: report["featurizers"][n]["mcc"])
    typer.echo(f"compared {len(names)} featurizers; best test MCC: {best} -> {output_dir / 'compare.md'}")


if __name__ == "__main__":
    app()
