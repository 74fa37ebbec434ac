"""docs/extending.md's recipes, each done the way the guide says: one edit, and the rest follows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, offline_stand_ins, real_params
from tests.tiny_models import architecture

# A metric added the way docs/extending.md says: one entry in COUNT_METRICS (negative predictive value).
NEW_METRIC = '    "npv": lambda tp, fp, tn, fn: _ratio(tn, tn + fn),\n'

# Runs in a copy of stages/ that holds that one edit: evaluate's metrics, compare.json and compare.md from it.
REPORT_SCRIPT = """
import json, sys
import numpy as np, pandas as pd
import stages
from stages.common.comparison import Comparison, compare_featurizers
from stages.common.metrics import classification_metrics
from stages.compare import markdown_report, with_evaluation

assert stages.__file__.startswith(sys.argv[1]), stages.__file__  # the edited copy, not the project
rng = np.random.default_rng(0)
labels = (rng.random(200) < 0.3).astype(int)
guesses = {}
for name, mistakes in (("bow", 30), ("tfidf", 10)):
    guess = labels.copy()
    guess[rng.choice(200, mistakes, replace=False)] ^= 1
    guesses[name] = guess
frames = {n: pd.DataFrame({"id": range(200), "label": labels, "predicted": g}) for n, g in guesses.items()}
report = compare_featurizers(frames, "bow", resamples=200, seed=0)
evaluation = {"test": {"roc_auc": 0.9, "pr_auc": 0.8}}
with_evaluation(report, {n: evaluation for n in frames}, {n: "none" for n in frames})
data = json.loads(json.dumps(report.to_json()))
assert Comparison.from_json(data).to_json() == data
print(json.dumps({
    "labels": labels.tolist(), "guesses": {n: g.tolist() for n, g in guesses.items()},
    "evaluate": classification_metrics(labels, guesses["tfidf"].astype(float), 0.5),
    "compare_json": data, "compare_md": markdown_report(report),
}))
"""


def with_new_metric(copy: Path) -> Path:
    """A copy of the project's stages/ with NEW_METRIC added to COUNT_METRICS, after its last entry."""
    shutil.copytree(ROOT / "stages", copy / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    metrics = copy / "stages" / "common" / "metrics.py"
    text = metrics.read_text()
    last = '    "mcc": lambda'
    assert text.count(last) == 1, "COUNT_METRICS' last entry moved: update NEW_METRIC's anchor"
    end_of_line = text.index("\n", text.index(last)) + 1
    metrics.write_text(text[:end_of_line] + NEW_METRIC + text[end_of_line:])
    return copy


def test_a_metric_added_to_count_metrics_reaches_evaluate_compare_json_and_compare_md(tmp_path):
    copy = with_new_metric(tmp_path)
    (copy / "report.py").write_text(REPORT_SCRIPT)
    done = subprocess.run(
        [sys.executable, "report.py", str(copy / "stages")], cwd=copy, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    labels = out["labels"]

    def npv(guess: list[int]) -> float:  # by hand: true negatives over predicted negatives
        negatives = [label for label, g in zip(labels, guess, strict=True) if g == 0]
        return round(negatives.count(0) / len(negatives), 6)

    want = {name: npv(guess) for name, guess in out["guesses"].items()}
    assert out["evaluate"]["npv"] == pytest.approx(want["tfidf"], abs=1e-6)
    rows = out["compare_json"]["featurizers"]
    assert {name: row["npv"] for name, row in rows.items()} == want
    assert list(rows["bow"])[:7] == ["accuracy", "precision", "recall", "specificity", "f1", "mcc", "npv"]
    change = out["compare_json"]["vs_baseline"]["tfidf"]["npv"]
    assert change["old"] == want["bow"] and change["new"] == want["tfidf"]
    assert (
        "| featurizer | accuracy | precision | recall | specificity | f1 | mcc | npv | roc_auc |" in out["compare_md"]
    )
    assert f"| npv | {want['bow']:.4f} | {want['tfidf']:.4f} |" in out["compare_md"]  # the paired table
    assert f"| {rows['tfidf']['mcc']:.4f} | {want['tfidf']:.4f} | 0.9000 |" in out["compare_md"]  # the summary row


def hub_encoder_params(model: str) -> dict:
    """params.yaml with one more hub encoder, added as docs/extending.md says (featurizers, featurize, train)."""
    params = real_params()
    params["featurizers"].append("roberta")
    params["featurize"]["roberta"] = {"kind": "transformer", "model": model}
    params["train"]["roberta"] = params["train"]["minilm"]
    return params


def test_every_hub_encoder_gets_a_stand_in_of_its_architecture_and_no_other_does(tmp_path):
    params = hub_encoder_params("FacebookAI/roberta-base")
    params["featurize"]["local"] = {"kind": "transformer", "model": str(tmp_path)}
    params["featurizers"].append("local")
    params["train"]["local"] = params["train"]["minilm"]
    stand_ins = offline_stand_ins(params, tmp_path / "models")
    assert sorted(stand_ins) == [f"featurize.{name}.model" for name in ("bart", "bert", "roberta")]
    assert "featurize.minilm.model" not in stand_ins  # its PyPI copy loads offline: the real model
    config = json.loads((Path(stand_ins["featurize.bart.model"]) / "config.json").read_text())
    assert config["model_type"] == "bart" and architecture("facebook/bart-base") == "encoder-decoder"
    config = json.loads((Path(stand_ins["featurize.roberta.model"]) / "config.json").read_text())
    assert config["model_type"] == "bert" and architecture("FacebookAI/roberta-base") == "encoder"


@pytest.mark.slow
def test_a_fourth_hub_encoder_runs_through_the_pipeline_offline(tmp_path):
    """The offline tests' project with a hub encoder added to params.yaml and nothing else: featurize, train and
    evaluate run on its stand-in, with no network."""
    from tests.sample_project import LEAN_TRAINING, copy_project, run

    params = hub_encoder_params("FacebookAI/roberta-base")
    project = copy_project(
        tmp_path / "project",
        featurizers=["bow", "roberta"],
        **{"featurize.roberta": params["featurize"]["roberta"], "train.roberta": params["train"]["roberta"]},
        **{k: v for k, v in LEAN_TRAINING.items() if k.split(".")[1] != "roberta"},
        **{"train.roberta.epochs": 40},
        **offline_stand_ins(params | {"featurizers": ["bow", "roberta"]}, tmp_path / "models"),
    )
    output = run(project, "dvc", "repro", "evaluate@roberta")
    assert "Running stage 'featurize@roberta'" in output and "Running stage 'evaluate@roberta'" in output
    metrics = json.loads((project / "reports" / "eval" / "roberta" / "metrics.json").read_text())
    assert metrics["test"]["n"] > 0
