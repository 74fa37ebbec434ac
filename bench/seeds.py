"""Verdicts over many splits: the pipeline on several split seeds through DVC's experiment queue.

One test split of 776 messages gives test MCC a 95 % interval of about +-0.03, so one split cannot rank
featurizers 0.01 apart. This queues one experiment per seed (`dvc exp run --queue -S split.seed=SEED`),
runs the queue (`dvc queue start`, one worker), reads each experiment's reports/metrics/*.json from its
commit, and writes reports/seeds.json and reports/seeds.md: mean +- sd of test MCC and F1 per featurizer,
and for each pair the per-seed difference (same split for both: paired), its mean +- sd and on how many
seeds it has the same sign. featurize@minilm reruns with the split (its declared deps include it) but
encodes nothing: the embedding cache (data/cache, git-ignored) is copied into each experiment (`-C`).

Run from the repository root after one `spam repro` (params.yaml as committed; featurizers whose model
cannot be loaded offline are left out, as `spam repro` does):
    python bench/seeds.py                 # seeds 42 43 44 45 46, params.yaml's `featurizers`
    python bench/seeds.py --seeds 1 2 3
    python bench/seeds.py --featurizers tfidf,minilm,minilm_fp32,minilm_int8,minilm_static \
        --output-dir bench/results/modes
An opt-in featurizer whose model a stage builds (export@NAME, distill@NAME) gets that stage too: the experiment's
models.yaml is set to list it (`-S models.yaml:exports=[...]`), as `spam sync` would.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer

from stages.common.featurize_inputs import MODELS_FILE, built_models
from stages.common.io import write_bytes, write_json
from stages.common.params import Params, load_params
from stages.user.spam import unavailable_encoders

DVC = [sys.executable, "-m", "dvc"]
METRICS = ("mcc", "f1")
EMBEDDING_CACHE = Path("data/cache")  # featurize's --cache-dir parent: queued experiments run in a temp copy


def without(params: Params, missing: list[str]) -> list[str]:
    """`featurizers` less the missing encoders and the concat featurizers built on them."""
    built_on = [name for name, parts in params.concat_parts().items() if set(parts) & set(missing)]
    return [name for name in params.featurizers if name not in missing and name not in built_on]


def featurizers_overrides(params: Params, featurizers: list[str]) -> list[str]:
    """The `dvc exp run -S` values that run only these featurizers in the queued experiments, with the stages
    that build their models (params.yaml and models.yaml in the workspace are left as they are)."""
    models = [f"{MODELS_FILE}:{key}=[{','.join(names)}]" for key, names in built_models(params, featurizers).items()]
    return [f"featurizers=[{','.join(featurizers)}]", *models]


def dvc(*args: str) -> str:
    done = subprocess.run([*DVC, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"error: dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def experiment_commit(name: str) -> str:
    """The commit of a finished experiment, by name (dvc exp show --json lists them under the baseline)."""
    for baseline in json.loads(dvc("exp", "show", "--json", "--no-fetch")):
        for experiment in baseline.get("experiments") or []:
            if experiment.get("name") == name:
                return experiment["revs"][0]["rev"]
    raise SystemExit(f"error: experiment {name} did not finish: see `dvc queue logs {name}`")


def committed_json(commit: str, path: str) -> dict:
    """A JSON file as an experiment's commit holds it (metrics and compare outputs are git-tracked there)."""
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True)
    return json.loads(shown.stdout)


def read_test_metrics(commit: str, featurizers: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for name in featurizers:
        test = committed_json(commit, f"reports/metrics/{name}.json")["test"]
        out[name] = {metric: float(test[metric]) for metric in METRICS}
    return out


def read_intervals(commit: str) -> dict:
    """The experiment's compare.json: each featurizer's test MCC and F1 change against its baseline, with the
    paired bootstrap 95 % interval (`spam compare`'s)."""
    report = committed_json(commit, "reports/compare.json")
    return {
        "baseline": report["baseline"],
        "changes": {
            name: {metric: {"change": rows[metric]["change"], "ci95": rows[metric]["ci95"]} for metric in METRICS}
            for name, rows in report["vs_baseline"].items()
        },
    }


def intervals_markdown(intervals: dict[int, dict]) -> list[str]:
    """Per seed, each featurizer's test MCC change against the baseline with its 95 % interval."""
    seeds = list(intervals)
    baselines = {intervals[s]["baseline"] for s in seeds}
    names = list(dict.fromkeys(name for s in seeds for name in intervals[s]["changes"]))
    lines = [
        "",
        f"Against {', '.join(sorted(baselines))} on each seed: the change in test MCC, with `spam compare`'s paired "
        "bootstrap 95 % interval (each experiment's reports/compare.json).",
        "",
        "| featurizer | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "| --- " * (1 + len(seeds)) + "|",
    ]
    for name in names:
        cells = []
        for seed in seeds:
            row = intervals[seed]["changes"].get(name, {}).get("mcc")
            cells.append(f"{row['change']:+.4f} [{row['ci95'][0]:+.4f}, {row['ci95'][1]:+.4f}]" if row else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def summarise(per_seed: dict[int, dict[str, dict[str, float]]], featurizers: list[str]) -> dict:
    """Mean +- sd per featurizer and metric; per pair the paired per-seed differences."""
    seeds = list(per_seed)

    def values(name: str, metric: str) -> list[float]:
        return [per_seed[s][name][metric] for s in seeds]

    summary = {
        name: {m: {"mean": statistics.mean(values(name, m)), "sd": statistics.stdev(values(name, m))} for m in METRICS}
        for name in featurizers
    }
    pairs = {}
    for old, new in itertools.combinations(featurizers, 2):
        for metric in METRICS:
            diffs = [a - b for a, b in zip(values(new, metric), values(old, metric), strict=True)]
            mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
            same_sign = max(sum(d > 0 for d in diffs), sum(d < 0 for d in diffs))
            pairs[f"{new} - {old} ({metric})"] = {
                "differences": [round(d, 6) for d in diffs],
                "mean": round(mean, 6),
                "sd": round(sd, 6),
                "same_sign": same_sign,
                "holds": same_sign == len(diffs) and abs(mean) > sd,  # every seed agrees and mean +- sd excludes 0
            }
    return {"seeds": seeds, "per_seed": per_seed, "summary": summary, "pairs": pairs}


def markdown(result: dict) -> str:
    seeds = result["seeds"]
    names = list(result["summary"])
    lines = [
        "# Featurizers over several split seeds",
        "",
        f"Split seeds {', '.join(map(str, seeds))} (stratified 70/15/15); test metrics of each seed's pipeline, "
        "run through DVC's experiment queue by `python bench/seeds.py`"
        + (f" with `-S {' -S '.join(result['overrides'])}`." if result.get("overrides") else "."),
        "",
        "| featurizer | test MCC mean ± sd | test F1 mean ± sd | " + " | ".join(f"MCC seed {s}" for s in seeds) + " |",
        "| --- " * (3 + len(seeds)) + "|",
    ]
    for name in names:
        row = result["summary"][name]
        cells = [f"{result['per_seed'][s][name]['mcc']:.4f}" for s in seeds]
        lines.append(
            f"| {name} | {row['mcc']['mean']:.4f} ± {row['mcc']['sd']:.4f} | "
            f"{row['f1']['mean']:.4f} ± {row['f1']['sd']:.4f} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Paired differences (same split for both featurizers): a difference **holds** when it has the same "
        f"sign on all {len(seeds)} seeds and its mean ± sd excludes 0.",
        "",
        "| difference | mean ± sd | same sign on | holds |",
        "| --- | --- | --- | --- |",
    ]
    for label, pair in result["pairs"].items():
        lines.append(
            f"| {label} | {pair['mean']:+.4f} ± {pair['sd']:.4f} | {pair['same_sign']}/{len(seeds)} | "
            f"{'yes' if pair['holds'] else 'no'} |"
        )
    if result.get("intervals"):
        lines += intervals_markdown(result["intervals"])
    return "\n".join(lines) + "\n"


def main(
    seeds: list[int] = typer.Option([42, 43, 44, 45, 46], help="split seeds, one experiment each"),
    featurizers: str = typer.Option(None, help="comma-separated, any defined in params.yaml (default: `featurizers`)"),
    baseline: str = typer.Option(None, help="what compare measures the others against (default: compare.baseline)"),
    set_params: list[str] = typer.Option(
        [], "--set", help="more `dvc exp run -S` values for every seed, e.g. featurize.minilm_int8.backend=onnx"
    ),
    output_dir: Path = typer.Option(Path("reports"), help="where seeds.json and seeds.md go"),
) -> None:
    """Queue one experiment per split seed, run them, and write the mean +- sd table."""
    params = load_params()
    if featurizers:
        chosen = featurizers.split(",")
        for name in chosen:
            params.featurizer(name)  # a clear error for a name params.yaml does not define
        params = params.model_copy(update={"featurizers": chosen})
    kept = without(params, unavailable_encoders(params))
    values = [*featurizers_overrides(params, kept), *set_params]
    if baseline:
        values.append(f"compare.baseline={baseline}")
    overrides = [arg for value in values for arg in ("-S", value)]
    names = [f"seed-{seed}" for seed in seeds]
    subprocess.run([*DVC, "exp", "remove", *names], capture_output=True)  # a rerun replaces the old ones
    for seed, name in zip(seeds, names, strict=True):
        copy = ["-C", str(EMBEDDING_CACHE)] if EMBEDDING_CACHE.exists() else []
        dvc("exp", "run", "--queue", "-n", name, "-S", f"split.seed={seed}", *overrides, *copy)
    started = time.monotonic()
    dvc("queue", "start", "-j", "1")
    while any(f"{name} " in line and ("Queued" in line or "Running" in line)
              for line in dvc("queue", "status").splitlines() for name in names):  # fmt: skip
        time.sleep(10)
    typer.echo(f"ran {len(seeds)} experiments in {time.monotonic() - started:.0f} s", err=True)
    commits = {seed: experiment_commit(name) for seed, name in zip(seeds, names, strict=True)}
    result = summarise({seed: read_test_metrics(commit, kept) for seed, commit in commits.items()}, kept)
    result["overrides"] = values
    result["intervals"] = {seed: read_intervals(commit) for seed, commit in commits.items()}
    write_json(output_dir / "seeds.json", result)
    write_bytes(output_dir / "seeds.md", markdown(result).encode())
    typer.echo(markdown(result))


if __name__ == "__main__":
    typer.run(main)
