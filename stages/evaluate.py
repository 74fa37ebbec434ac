"""Stage 6: score a trained neuron on train/val/test; write metrics JSON, DVC plot data and PNGs.

reports/metrics/<F>.json holds the headline that `dvc metrics show` lists; reports/eval/<F>/metrics.json
every metric of every split (confusion counts, specificity, PR-AUC, threshold).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import typer

from stages.common import layout
from stages.common.calibration import (
    ECE_BINS,
    Calibration,
    brier_score,
    expected_calibration_error,
    reliability_table,
)
from stages.common.cli import (
    FeaturesDirOption,
    FeaturizerArg,
    MessagesOption,
    ModelDirOption,
    SplitOption,
    reports_errors,
    stage_app,
    stage_featurizer,
)
from stages.common.features import Split, load_splits, require_both_classes
from stages.common.figures import readable_figure, save_figure
from stages.common.io import atomic_dir, read_json, write_json, write_parquet
from stages.common.layout import ALL_METRICS, CARD, FIGURES, LOSS_HISTORY, MESSAGES_FILE, SPLIT_FILE
from stages.common.metrics import classification_metrics, headline
from stages.common.neuron import load_neuron, sigmoid
from stages.common.params import load_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure

app = stage_app(__doc__)


def _round(block: dict) -> dict:
    return {k: round(float(v), 6) if isinstance(v, float | np.floating) else v for k, v in block.items()}


AXIS_LABELS = {
    "roc.png": ("false positive rate (ham flagged as spam)", "true positive rate (spam caught)"),
    "precision_recall.png": ("recall (spam caught)", "precision (flagged that is spam)"),
}


def save_figures(
    figures: Path, title: str, labels: np.ndarray, scores: np.ndarray, threshold: float, loss: pd.DataFrame
) -> None:
    """PNGs that read well offline (dvc plots show's HTML needs a CDN)."""
    from sklearn import metrics as skm  # ~0.7 s to import: here, not at the stage's start

    figures.mkdir(parents=True, exist_ok=True)
    drawings = {
        "roc.png": lambda ax: skm.RocCurveDisplay.from_predictions(labels, scores, ax=ax, name=title),
        "precision_recall.png": lambda ax: skm.PrecisionRecallDisplay.from_predictions(
            labels, scores, ax=ax, name=title
        ),
        "confusion_matrix.png": lambda ax: skm.ConfusionMatrixDisplay.from_predictions(
            labels, (scores >= threshold).astype(int), display_labels=["ham", "spam"], ax=ax, colorbar=False
        ),
    }
    if not loss.empty:
        drawings["loss.png"] = lambda ax: loss.plot(x="epoch", ax=ax, xlabel="epoch", ylabel="loss", logy=True)
    for name, draw in drawings.items():
        fig, ax = readable_figure()
        draw(ax)
        if name in AXIS_LABELS:  # sklearn's own ("True Positive Rate (Positive label: 1)") say less, in more
            ax.set(xlabel=AXIS_LABELS[name][0], ylabel=AXIS_LABELS[name][1])
        ax.set_title(
            f"{title}: {name.removesuffix('.png').replace('_', ' ')} (test)"
            if name != "loss.png"
            else f"{title}: loss per epoch"
        )
        save_figure(fig, figures / name)


def calibration_metrics(labels: np.ndarray, scores: np.ndarray, uncalibrated: np.ndarray) -> dict:
    """Brier score and ECE (ECE_BINS equal-width bins) of the printed probabilities, and ECE before calibration."""
    return {
        "brier": brier_score(labels, scores),
        "ece": expected_calibration_error(labels, scores),
        "brier_uncalibrated": brier_score(labels, uncalibrated),
        "ece_uncalibrated": expected_calibration_error(labels, uncalibrated),
    }


def reliability_rows(tables: dict[str, list[dict]], method: str) -> list[dict]:
    """The DVC plot's rows: one curve for the printed probabilities (and one before calibration, if any)."""
    curves = {f"calibrated ({method})": tables["calibrated"]} if method != "none" else {}
    curves["uncalibrated"] = tables["uncalibrated"]
    return [{"curve": curve, **row} for curve, rows in curves.items() for row in rows]


MIN_BIN_MESSAGES = 10  # a bin with fewer messages is drawn hollow: its fraction spam is mostly chance


def reliability_figure(title: str, tables: dict[str, list[dict]], method: str) -> Figure:
    """Fraction spam per bin against the mean predicted probability (the diagonal is perfect calibration),
    with the messages in each bin under it: most messages sit in the end bins, and a bin of one or two
    messages can only be 0 or 1. A marker's area grows with its bin's messages; points are not joined, as a
    line through near-empty bins would read as a trend."""
    from matplotlib.colors import to_rgba

    fig, (curve, counts) = readable_figure((6.4, 6.4), nrows=2, sharex=True, height_ratios=[3, 1])
    curve.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    names = {"uncalibrated": "uncalibrated"} | ({"calibrated": f"calibrated ({method})"} if method != "none" else {})
    width = 1 / ECE_BINS / len(names)  # the curves' count bars side by side within a bin
    for offset, (key, label) in enumerate(names.items()):
        rows = tables[key]
        x, y = [r["mean_predicted"] for r in rows], [r["fraction_spam"] for r in rows]
        n = np.array([r["count"] for r in rows])
        color = f"C{offset}"
        hollow = (1.0, 1.0, 1.0, 0.0)  # transparent: an alpha= argument would darken it, so none is given
        faces = [to_rgba(color, 0.7) if count >= MIN_BIN_MESSAGES else hollow for count in n]
        curve.scatter(x, y, s=30 + 270 * np.sqrt(n / n.max()), label=label, facecolors=faces, edgecolors=color,
                      linewidths=1.5)  # fmt: skip
        lefts = [r["bin_low"] + offset * width for r in rows]
        bars = counts.bar(lefts, n, width=width, align="edge", color=color, alpha=0.75)
        counts.bar_label(bars, labels=[f"{c:,}" for c in n], fontsize=8, padding=2, rotation=90)
    curve.set(ylabel="fraction spam", xlim=(0, 1), ylim=(-0.03, 1.03), title=f"{title}: reliability (test)")
    curve.legend(loc="upper left", markerscale=0.5, title=f"hollow: < {MIN_BIN_MESSAGES} messages", title_fontsize=9)
    counts.set(yscale="log", ylabel="messages", xlabel=f"mean predicted spam probability ({ECE_BINS} equal-width bins)")
    counts.set_ylim(0.7, max(max(r["count"] for r in tables[key]) for key in names) * 60)  # room for the labels
    return fig


def draw_reliability(path: Path, title: str, tables: dict[str, list[dict]], method: str) -> None:
    save_figure(reliability_figure(title, tables, method), path)


def loss_curves(history: list[dict]) -> pd.DataFrame:
    """train's loss history (data/models/F/loss_history.json) as one frame: epoch, train, val."""
    frame = pd.DataFrame(history, columns=["epoch", "train_loss", "val_loss"])
    return frame.rename(columns={"train_loss": "train", "val_loss": "val"})


def split_report(splits: dict[str, Split], scores: dict, logits: dict, threshold: float) -> dict:
    """{split: every metric} of the printed probabilities, with calibration metrics before and after."""
    return {
        name: _round(
            classification_metrics(split.labels, scores[name], threshold)
            | calibration_metrics(split.labels, scores[name], sigmoid(logits[name]))
        )
        for name, split in splits.items()
    }


def predictions_table(splits: dict[str, Split], scores: dict, threshold: float) -> pd.DataFrame:
    """id, split, label, score, predicted: what the compare stage resamples."""
    frames = [
        pd.DataFrame(
            {
                "id": split.ids,
                "split": name,
                "label": split.labels.astype(int),
                "score": scores[name],
                "predicted": (scores[name] >= threshold).astype(int),
            }
        )
        for name, split in splits.items()
    ]
    return pd.concat(frames, ignore_index=True)


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    messages_file: MessagesOption = MESSAGES_FILE,
    split_file: SplitOption = SPLIT_FILE,
    features_dir: FeaturesDirOption = None,
    model_dir: ModelDirOption = None,
    metrics_file: Path = typer.Option(
        None, help=f"the headline for `dvc metrics show`; default: {layout.METRICS_DIR}/FEATURIZER.json"
    ),
    eval_dir: Path = typer.Option(None, help=f"every metric, plots and PNGs; default: {layout.EVAL_DIR}/FEATURIZER"),
    predictions_file: Path = typer.Option(None, help=f"default: {layout.PREDICTIONS_DIR}/FEATURIZER.parquet"),
) -> None:
    """Evaluate FEATURIZER's neuron on every split."""
    from dvclive import Live  # its sklearn plots; imported here, as `--help` and refusals need none of it

    featurizer = stage_featurizer(featurizer)
    load_params().featurizer(featurizer)
    features_dir = features_dir or layout.features_dir(featurizer)
    model_dir = model_dir or layout.model_dir(featurizer)
    metrics_file = metrics_file or layout.metrics_file(featurizer)
    eval_dir = eval_dir or layout.eval_dir(featurizer)
    predictions_file = predictions_file or layout.predictions_file(featurizer)

    card = read_json(model_dir / CARD)
    neuron = load_neuron(model_dir, featurizer, card["n_features"])
    threshold = card["threshold"]
    calibration = Calibration.from_card(card.get("calibration")) or Calibration()
    splits = load_splits(features_dir, messages_file, split_file)
    require_both_classes(splits, tuple(splits), "evaluate")
    logits = {name: neuron.logits(split.features) for name, split in splits.items()}
    scores = {name: sigmoid(calibration(z)) for name, z in logits.items()}  # what `spam predict` prints
    report = split_report(splits, scores, logits, threshold)

    labels, test_scores = splits["test"].labels.astype(int), scores["test"]
    loss = loss_curves(read_json(model_dir / LOSS_HISTORY))
    with atomic_dir(eval_dir) as tmp:
        with Live(dir=str(tmp), save_dvc_exp=False, dvcyaml=None) as live:
            live.log_sklearn_plot("roc", labels, test_scores, drop_intermediate=True)
            live.log_sklearn_plot("precision_recall", labels, test_scores, drop_intermediate=True)
            live.log_sklearn_plot("confusion_matrix", labels, (test_scores >= threshold).astype(int))
        reliability = {
            "calibrated": reliability_table(labels, test_scores),
            "uncalibrated": reliability_table(labels, sigmoid(logits["test"])),
        }
        write_json(tmp / "plots" / "custom" / "reliability.json", reliability_rows(reliability, calibration.method))
        save_figures(tmp / FIGURES, featurizer, labels, test_scores, threshold, loss)
        draw_reliability(tmp / FIGURES / "reliability.png", featurizer, reliability, calibration.method)
        write_json(tmp / ALL_METRICS, report)  # replaces dvclive's empty metrics.json
    write_json(metrics_file, headline(report))
    write_parquet(predictions_table(splits, scores, threshold), predictions_file)
    test = report["test"]
    typer.echo(
        f"{featurizer} test: f1 {test['f1']:.4f}, mcc {test['mcc']:.4f}, roc_auc {test['roc_auc']:.4f}, "
        f"ece {test['ece']:.4f} (uncalibrated {test['ece_uncalibrated']:.4f}) -> {metrics_file}"
    )


if __name__ == "__main__":
    app()
