"""Stage 5: train one neuron for a featurizer (params: train.FEATURIZER) and pick its threshold."""

from __future__ import annotations

from pathlib import Path

import typer
from dvclive import Live

from stages.common import layout
from stages.common.calibration import fit_calibration, log_loss
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
from stages.common.errors import StageError, TrainingDiverged
from stages.common.features import load_splits, require_both_classes
from stages.common.io import atomic_dir, write_json, write_run_log
from stages.common.layout import CARD, LOSS_HISTORY, MESSAGES_FILE, SPLIT_FILE
from stages.common.neuron import best_f1_threshold, save_neuron, sigmoid
from stages.common.params import load_params
from stages.common.training import train_neuron

app = stage_app(__doc__)


def log_loss_curves(live_dir: Path, history: list[dict]) -> None:
    """dvclive's loss curves for `dvc plots`, one step per epoch.

    The step is set rather than advanced with `next_step()`: that re-reads every .tsv at each step to post to
    Studio, even with Studio off (iterative/studio-support#95), so 10,000 epochs took minutes instead of a second.
    The files are the same. dvclive's summary (metrics.json, the last epoch's losses) is removed: it is no
    declared output, so a stage restored from DVC's run cache would leave an experiment's copy behind.
    """
    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None) as live:
        for step, row in enumerate(history):
            live.step = step
            live.log_metric("loss/train", row["train_loss"])
            live.log_metric("loss/val", row["val_loss"])
    Path(live.metrics_file).unlink(missing_ok=True)


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    messages_file: MessagesOption = MESSAGES_FILE,
    split_file: SplitOption = SPLIT_FILE,
    features_dir: FeaturesDirOption = None,
    model_dir: ModelDirOption = None,
    log_dir: Path = typer.Option(None, help=f"dvclive loss curves; default: {layout.TRAIN_LOG_DIR}/FEATURIZER"),
) -> None:
    """Train FEATURIZER's neuron; write safetensors weights and a JSON card to MODEL_DIR."""
    featurizer = stage_featurizer(featurizer)
    params = load_params().training(featurizer)
    features_dir = features_dir or layout.features_dir(featurizer)
    model_dir = model_dir or layout.model_dir(featurizer)
    log_dir = log_dir or layout.train_log_dir(featurizer)
    splits = load_splits(features_dir, messages_file, split_file)
    train, val = splits["train"], splits["val"]
    require_both_classes(splits, ("train", "val"), "training")
    x_train, y_train, x_val, y_val = train.features, train.labels, val.features, val.labels

    with atomic_dir(log_dir) as live_dir, atomic_dir(model_dir) as out:
        try:
            result = train_neuron(x_train, y_train, x_val, y_val, params)
        except TrainingDiverged as exc:
            raise StageError(
                f"{exc}: lower train.{featurizer}.lr (now {params.lr:g}) in params.yaml, then rerun"
            ) from None
        log_loss_curves(live_dir, result.history)  # after training: its file writes stay out of train_seconds
        neuron = result.neuron  # the stored float32 weights: the threshold is picked on what evaluate scores
        val_logits = neuron.logits(x_val)
        calibration = fit_calibration(val_logits, y_val, params.calibration)
        val_scores = sigmoid(calibration(val_logits))  # the threshold applies to the printed probability
        threshold = best_f1_threshold(y_val, val_scores) if params.threshold == "auto" else params.threshold
        save_neuron(out, neuron)
        write_json(out / LOSS_HISTORY, result.history)  # evaluate draws it; dvclive's files are for `dvc plots`
        card = {
            "featurizer": featurizer,
            "n_features": int(x_train.shape[1]),
            "threshold": threshold,
            "threshold_rule": "max F1 on val" if params.threshold == "auto" else "fixed",
            "epochs_run": len(result.history),
            "best_epoch": result.best_epoch,
            "calibration": calibration.to_card(),
            "val_log_loss": {
                "uncalibrated": round(log_loss(val_logits, y_val), 6),
                "calibrated": round(log_loss(calibration(val_logits), y_val), 6),
            },
            "train_rows": int(x_train.shape[0]),
            **({"weight_decay_search": result.weight_decay_search} if result.weight_decay_search else {}),
            "params": params.model_dump(mode="json"),
        }
        write_json(out / CARD, card)
    # The time varies run to run: it goes to a run log, never into the card that DVC hashes.
    write_run_log("train", featurizer, {"train_seconds": round(result.seconds, 3), "epochs_run": card["epochs_run"]})
    typer.echo(
        f"trained {featurizer}: {card['epochs_run']} epochs (best {card['best_epoch']}) in "
        f"{result.seconds:.2f} s, threshold {threshold:.4f} -> {model_dir}"
    )


if __name__ == "__main__":
    app()
