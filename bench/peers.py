"""Each neuron against its peers on the same split and features.

Peers: scikit-learn LogisticRegression (C and threshold chosen on val) on the same matrix, and the course's
recipe (SGD lr 0.02, 10,000 full-batch iterations, threshold 0.25) on the bow features, trained by the same
code as the pipeline's neuron so the time ratio compares recipes, not implementations. The neuron is scored
as the train stage scores it: its calibration fitted on val, its threshold max F1 on the calibrated val.

Three runs, each from the repository root:
    python bench/peers.py                  # after `dvc repro`: data/features, data/split, params.yaml
    python bench/peers.py weight-decay     # neuron with its former fixed weight decay vs `auto` vs LR
    python bench/peers.py seeds            # neuron vs LR over split seeds 42..46, no DVC: bench/results/peers.*

`seeds` makes each seed's split in-process (stages/split.py `split_messages`), refits bow and tfidf on that
seed's train rows (stages/featurize.py `vectorize`), reuses the encoders' split-independent vectors from
data/features/NAME (rows by message id) and joins concat featurizers as featurize does.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import typer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, matthews_corrcoef

from stages.common.calibration import fit_calibration
from stages.common.features import SPLITS, Split, fit_concat, join_blocks, load_aligned, load_splits
from stages.common.layout import FEATURES_DIR, GROUPS_FILE, MESSAGES_FILE, SPLIT_FILE, features_dir
from stages.common.neuron import best_f1_threshold, sigmoid
from stages.common.params import (
    ConcatParams,
    EncoderParams,
    Params,
    SplitParams,
    StaticParams,
    TrainParams,
    VectorizerParams,
    load_params,
)
from stages.common.standardise import Standardiser
from stages.common.training import train_neuron

COURSE_RECIPE = TrainParams(optimizer="sgd", lr=0.02, epochs=10_000, patience=0, threshold=0.25)
LR_C_GRID = (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100)
SEEDS = [42, 43, 44, 45, 46]
# params.yaml's weight decays before `auto` (issue 27): what `weight-decay` compares auto with.
FIXED_WEIGHT_DECAY = {"bow": 1e-4, "tfidf": 1e-5, "bart": 0.01, "bert": 0.01, "minilm": 0.01, "tfidf_minilm": 1e-5}
RESULTS = Path("bench/results")

app = typer.Typer(add_completion=False, help=__doc__)


def scores_at(y_test: np.ndarray, test_scores: np.ndarray, threshold: float) -> tuple[float, float]:
    predicted = test_scores >= threshold
    return float(f1_score(y_test, predicted)), float(matthews_corrcoef(y_test, predicted))


def arrays(splits: dict[str, Split]) -> tuple:
    """x_train, y_train, x_val, y_val, x_test, y_test."""
    return tuple(part for name in SPLITS for part in (splits[name].features, splits[name].labels))


def logistic_regression(splits) -> tuple[str, float, float, float]:
    x_train, y_train, x_val, y_val, x_test, y_test = arrays(splits)
    if not sp.issparse(x_train):  # dense embeddings: standardise with train statistics, as the neuron does
        scale = Standardiser.fit(x_train)
        x_train, x_val, x_test = (scale(x) for x in (x_train, x_val, x_test))
    best = None
    started = time.perf_counter()
    for c in LR_C_GRID:
        model = LogisticRegression(C=c, max_iter=5000).fit(x_train, y_train)
        val_scores = model.predict_proba(x_val)[:, 1]
        threshold = best_f1_threshold(y_val, val_scores)
        val_mcc = matthews_corrcoef(y_val, val_scores >= threshold)
        if best is None or val_mcc > best[0]:
            best = (val_mcc, c, threshold, model)
    seconds = time.perf_counter() - started
    _, c, threshold, model = best
    return (
        f"LogisticRegression (C={c:g}, tuned on val)",
        *scores_at(y_test, model.predict_proba(x_test)[:, 1], threshold),
        seconds,
    )


def neuron(splits, params: TrainParams) -> tuple[float, float, float]:
    """Test F1, MCC and the fit's seconds, calibrated and thresholded on val as stages/train.py does."""
    return neuron_fit(splits, params)[:3]


def neuron_fit(splits, params: TrainParams) -> tuple[float, float, float, dict | None]:
    x_train, y_train, x_val, y_val, x_test, y_test = arrays(splits)
    result = train_neuron(x_train, y_train, x_val, y_val, params)
    model = result.neuron
    val_logits = model.logits(x_val)
    calibration = fit_calibration(val_logits, y_val, params.calibration)
    val_scores = sigmoid(calibration(val_logits))
    threshold = best_f1_threshold(y_val, val_scores) if params.threshold == "auto" else params.threshold
    test_scores = sigmoid(calibration(model.logits(x_test)))
    return *scores_at(y_test, test_scores, threshold), result.seconds, result.weight_decay_search


def warm_up(splits) -> None:
    """Torch's thread pools and first-call dispatch, once, so that no timed fit pays for them."""
    val = splits["val"]
    train_neuron(val.features, val.labels, val.features, val.labels, TrainParams(epochs=5))


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = f"{names[0]} x {len(names)}" if names else cpu
    return f"{cpu}, Python {platform.python_version()}, {platform.system()}"


@app.command("current")
def current() -> None:
    """Neuron (params.yaml) vs LogisticRegression (and the course recipe on bow) on the pipeline's own outputs."""
    params = load_params()
    rows = []
    built = [name for name in params.featurizers if features_dir(name).is_dir()]
    if missing := [name for name in params.featurizers if name not in built]:
        print(f"left out (no features built; offline?): {', '.join(missing)}")
    warm_up(load_splits(features_dir(built[0]), MESSAGES_FILE, SPLIT_FILE))
    for name in built:
        splits = load_splits(features_dir(name), MESSAGES_FILE, SPLIT_FILE)
        rows.append((name, "neuron (params.yaml)", *neuron(splits, params.train[name])))
        rows.append((name, *logistic_regression(splits)))
        if name == "bow":
            rows.append((name, "course recipe (SGD 0.02 x 10,000, thr 0.25)", *neuron(splits, COURSE_RECIPE)))
    print(f"{'features':<9} {'model':<46} {'test F1':>8} {'test MCC':>9} {'fit s':>7}")
    for name, model, f1, mcc, seconds in rows:
        print(f"{name:<9} {model:<46} {f1:>8.4f} {mcc:>9.4f} {seconds:>7.2f}")
    times = {(r[0], r[1].split(" ")[0]): r[4] for r in rows}
    if ("bow", "course") in times:
        ratio = times[("bow", "neuron")] / times[("bow", "course")]
        print(f"\nbow neuron training time / course recipe's: {ratio:.3f}")


def compare_weight_decay(
    features_root: Path, messages_file: Path, split_file: Path, params: Params, names: list[str] | None = None
) -> list[dict]:
    """For each featurizer with features under features_root: the neuron with its former fixed weight decay
    (FIXED_WEIGHT_DECAY), with `auto`, and LogisticRegression; test F1 and MCC, fit seconds. Reads only."""
    names = names or [n for n in params.featurizers if (Path(features_root) / n).is_dir()]
    rows, warmed = [], False
    for name in names:
        splits = load_splits(Path(features_root) / name, messages_file, split_file)
        if not warmed:
            warm_up(splits)
            warmed = True
        base = params.train[name]
        for label, decay in (("neuron fixed", FIXED_WEIGHT_DECAY[name]), ("neuron auto", "auto")):
            f1, mcc, seconds, search = neuron_fit(splits, base.model_copy(update={"weight_decay": decay}))
            chosen = search["chosen"] if search else decay
            rows.append({"featurizer": name, "model": label, "weight_decay": chosen, "f1": f1, "mcc": mcc,
                         "seconds": seconds, "search": search})  # fmt: skip
        model, f1, mcc, seconds = logistic_regression(splits)
        rows.append({"featurizer": name, "model": model, "f1": f1, "mcc": mcc, "seconds": seconds})
    return rows


@app.command("weight-decay")
def weight_decay_command(
    features_root: Path = typer.Option(FEATURES_DIR, help="one folder per featurizer, as featurize writes them"),
    messages_file: Path = typer.Option(MESSAGES_FILE),
    split_file: Path = typer.Option(SPLIT_FILE),
    params_file: Path = typer.Option(Path("params.yaml")),
    featurizers: list[str] = typer.Option(None, "--featurizer", help="default: every one with features"),
) -> None:
    """Fixed weight decay vs auto vs LogisticRegression on one split (read-only)."""
    rows = compare_weight_decay(features_root, messages_file, split_file, load_params(params_file), featurizers)
    print(f"{'features':<13} {'model':<40} {'wd':>8} {'test F1':>8} {'test MCC':>9} {'fit s':>7}")
    for r in rows:
        wd = f"{r['weight_decay']:g}" if "weight_decay" in r else ""
        print(f"{r['featurizer']:<13} {r['model']:<40} {wd:>8} {r['f1']:>8.4f} {r['mcc']:>9.4f} {r['seconds']:>7.2f}")
        if r.get("search"):
            scores = ", ".join(
                f"{g:g}: {s:g}" for g, s in zip(r["search"]["grid"], r["search"]["val_scores"], strict=True)
            )
            print(f"{'':<13}   val scores {scores}")


def split_parts(split_table: pd.DataFrame, messages: pd.DataFrame, matrix) -> dict[str, Split]:
    """{train|val|test: Split} from a matrix whose rows follow `messages`."""
    part = split_table.set_index("id")["split"].reindex(messages["id"]).to_numpy()
    labels = messages["label"].to_numpy(dtype=np.float32)
    ids = messages["id"].to_numpy()
    out = {}
    for name in SPLITS:
        rows = np.flatnonzero(part == name)
        out[name] = Split(ids[rows], matrix[rows], labels[rows])
    return out


def seed_features(
    messages: pd.DataFrame, split_table: pd.DataFrame, params: Params, features_root: Path, names: list[str]
) -> dict[str, sp.csr_matrix | np.ndarray]:
    """Each featurizer's matrix (rows in `messages` order) for this split: vectorizers fitted on its train rows,
    encoders' vectors read from features_root (they do not depend on the split), concat joined from those."""
    from stages.featurize import vectorize

    train_ids = split_table.loc[split_table["split"] == "train", "id"]
    matrices = {}
    for name in names:
        settings = params.featurize[name]
        if isinstance(settings, VectorizerParams):
            matrices[name] = vectorize(messages, train_ids, settings)[0]
        elif isinstance(settings, EncoderParams | StaticParams):
            matrices[name] = load_aligned(Path(features_root) / name, messages["id"])
    for name in names:
        settings = params.featurize[name]
        if isinstance(settings, ConcatParams):
            blocks = [matrices[part] for part in settings.parts]
            train_rows = messages["id"].isin(train_ids).to_numpy()
            state = fit_concat(blocks, train_rows, settings.parts, settings.block_weights)
            matrices[name] = join_blocks(blocks, state)
    return matrices


def available(params: Params, features_root: Path) -> list[str]:
    """Featurizers whose features can be made here: vectorizers always, encoders with data/features/NAME, concat
    featurizers whose parts are all available."""

    def ok(name: str) -> bool:
        settings = params.featurize[name]
        if isinstance(settings, EncoderParams | StaticParams):
            return (Path(features_root) / name).is_dir()
        if isinstance(settings, ConcatParams):
            return all(ok(part) for part in settings.parts)
        return True

    return [name for name in params.featurizers if ok(name)]


def over_seeds(
    messages_file: Path,
    features_root: Path,
    params: Params,
    seeds: list[int],
    log=print,
    groups_file: Path | None = None,
) -> dict[str, dict[int, dict[str, dict[str, float]]]]:
    """{featurizer: {seed: {"neuron"|"lr": {"mcc", "f1"}}}}: the neuron with params.yaml's train block and
    LogisticRegression (C and threshold on val), on each seed's split."""
    from stages.split import read_groups, split_messages

    messages = pd.read_parquet(messages_file)
    # prepare's near-duplicate groups, kept inside one part as the pipeline's split does; None: each message alone
    groups = read_groups(groups_file, messages["id"]) if groups_file else None
    names = available(params, features_root)
    results: dict = {name: {} for name in names}
    warmed = False
    for seed in seeds:
        split_params = SplitParams(**(params.split.model_dump() | {"seed": seed}))
        split_table = split_messages(messages[["id", "label"]], split_params, groups)
        matrices = seed_features(messages, split_table, params, features_root, names)
        for name in names:
            splits = split_parts(split_table, messages, matrices[name])
            if not warmed:
                warm_up(splits)
                warmed = True
            f1, mcc, seconds, search = neuron_fit(splits, params.train[name])
            _, lr_f1, lr_mcc, lr_seconds = logistic_regression(splits)
            results[name][seed] = {
                "neuron": {"mcc": mcc, "f1": f1, "seconds": seconds, "weight_decay": search and search["chosen"]},
                "lr": {"mcc": lr_mcc, "f1": lr_f1, "seconds": lr_seconds},
            }
            log(f"seed {seed} {name:<13} neuron MCC {mcc:.4f} F1 {f1:.4f} ({seconds:.1f} s)   "
                f"LR MCC {lr_mcc:.4f} F1 {lr_f1:.4f} ({lr_seconds:.1f} s)")  # fmt: skip
    return results


def summarise(results: dict) -> dict:
    """Per featurizer and model: mean and sd of test MCC and F1; per metric, on how many seeds each model wins."""
    summary = {}
    for name, per_seed in results.items():
        seeds = list(per_seed)
        entry = {}
        for model in ("neuron", "lr"):
            entry[model] = {
                metric: {
                    "mean": statistics.mean(per_seed[s][model][metric] for s in seeds),
                    "sd": statistics.stdev(per_seed[s][model][metric] for s in seeds) if len(seeds) > 1 else 0.0,
                }
                for metric in ("mcc", "f1")
            }
        for metric in ("mcc", "f1"):
            diffs = [per_seed[s]["neuron"][metric] - per_seed[s]["lr"][metric] for s in seeds]
            entry[f"{metric}_seeds"] = {
                "neuron": sum(d > 0 for d in diffs),
                "lr": sum(d < 0 for d in diffs),
                "tie": sum(d == 0 for d in diffs),
            }
        summary[name] = entry
    return summary


def markdown(summary: dict, seeds: list[int], command: str, seconds: float, host: str) -> str:
    lines = [
        "# Neuron vs LogisticRegression over split seeds",
        "",
        f"Seeds {', '.join(map(str, seeds))}; test MCC and F1, mean ± sd over seeds. Neuron: params.yaml's "
        "train block (calibrated and thresholded on val as the train stage does). LogisticRegression: C from "
        f"{list(LR_C_GRID)} and threshold (max F1) chosen on val. Seeds won: on how many seeds each model's "
        "test metric is higher (neuron / LR / tie).",
        "",
        "| featurizer | neuron MCC | LR MCC | seeds won MCC | neuron F1 | LR F1 | seeds won F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in summary.items():
        cell = {
            (model, metric): f"{entry[model][metric]['mean']:.4f} ± {entry[model][metric]['sd']:.4f}"
            for model in ("neuron", "lr")
            for metric in ("mcc", "f1")
        }
        won = {metric: "{neuron} / {lr} / {tie}".format(**entry[f"{metric}_seeds"]) for metric in ("mcc", "f1")}
        lines.append(
            f"| {name} | {cell['neuron', 'mcc']} | {cell['lr', 'mcc']} | {won['mcc']} | "
            f"{cell['neuron', 'f1']} | {cell['lr', 'f1']} | {won['f1']} |"
        )
    lines += ["", f"Command: `{command}`; {seconds:.0f} s on {host}.", ""]
    return "\n".join(lines)


@app.command("seeds")
def seeds_command(
    seeds: list[int] = typer.Option(SEEDS, "--seed"),
    messages_file: Path = typer.Option(MESSAGES_FILE),
    features_root: Path = typer.Option(FEATURES_DIR, help="where the encoders' vectors are read (read-only)"),
    groups_file: Path = typer.Option(GROUPS_FILE, help="prepare's near-duplicate groups"),
    params_file: Path = typer.Option(Path("params.yaml")),
    out: Path = typer.Option(RESULTS / "peers", help="writes OUT.md and OUT.json"),
) -> None:
    """Neuron vs LogisticRegression on several split seeds, made in-process (no DVC experiments)."""
    started = time.perf_counter()
    params = load_params(params_file)
    results = over_seeds(messages_file, features_root, params, seeds, groups_file=groups_file)
    seconds = time.perf_counter() - started
    summary = summarise(results)
    command = "python bench/peers.py " + " ".join(sys.argv[1:])
    host = machine()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown(summary, seeds, command, seconds, host))
    record = {"command": command, "machine": host, "seconds": round(seconds, 1), "seeds": seeds,
              "summary": summary, "per_seed": results}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.argv.append("current")  # `python bench/peers.py` keeps its meaning
    app()
