"""End to end: `dvc repro` on the sample data in a throwaway copy of the project."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from stages.common.message_stream import MAX_CHARS
from stages.common.metrics import headline
from tests.app_driver import CHROMIUM_FLAGS, chromium
from tests.conftest import ROOT
from tests.sample_project import LEAN_TRAINING, copy_project, offline_env, ran_stages, run, set_param

pytestmark = pytest.mark.slow
FEATURIZERS = yaml.safe_load((ROOT / "params.yaml").read_text())["featurizers"]
LESSONS = {"cars_prepare", "cars_train", "fahrenheit"}
TINY_RANDOM = {"bart", "bert"}  # random-weight stand-ins here: their scores mean nothing


def test_first_repro_runs_every_stage_and_writes_outputs(project, first_run):
    expected = {"download", "prepare", "split", "explore", "compare", "report", *LESSONS} | {
        f"{s}@{f}" for s in ("featurize", "train", "evaluate") for f in FEATURIZERS
    }
    assert ran_stages(first_run) == expected
    for name in FEATURIZERS:
        metrics = json.loads((project / "reports" / "eval" / name / "metrics.json").read_text())
        assert set(metrics) == {"train", "val", "test"}
        shown = json.loads((project / "reports" / "metrics" / f"{name}.json").read_text())
        assert shown == headline(metrics)  # what `dvc metrics show` lists: the test headline and val MCC
        for block in metrics.values():
            for key in ("accuracy", "precision", "recall", "specificity", "f1", "mcc", "roc_auc", "pr_auc", "ece"):
                assert 0 <= block[key] <= 1 or key == "mcc" and -1 <= block[key] <= 1
        # Far above chance for every real featurizer. The sample's 59 test messages hold no near-copy of a train
        # message (the grouped split), and bow, 40 epochs on 275 messages, ranks them at ROC AUC 0.82.
        if name not in TINY_RANDOM:
            assert metrics["test"]["roc_auc"] > 0.75 and metrics["test"]["accuracy"] > 0.85
        card = json.loads((project / "data" / "models" / name / "card.json").read_text())
        assert card["featurizer"] == name and card["epochs_run"] >= 1 and 0 < card["threshold"] < 1
        assert (project / "data" / "models" / name / "model.safetensors").stat().st_size > 0
        for png in ("loss", "roc", "precision_recall", "confusion_matrix", "reliability"):
            assert (project / "reports" / "eval" / name / "figures" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((project / "data" / "prepared" / "summary.json").read_text())
    assert summary["lines"] == 400 and summary["messages"] < 400  # the sample holds duplicates


def test_second_repro_runs_nothing(project, first_run):
    assert ran_stages(run(project, "dvc", "repro")) == set()


def test_forced_rerun_leaves_the_clone_clean_and_reports_hold_no_timings(pipeline):
    project = pipeline
    """Timings go to the git-ignored logs/, never into a model card, compare.json/.md or index.html."""
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    run(project, *git, "add", "-A")
    run(project, *git, "commit", "-qm", "first run")
    stages = ["train@bow", "evaluate@bow", "compare", "report"]
    output = run(project, "dvc", "repro", "--force", "--single-item", *stages)
    assert ran_stages(output) == set(stages)
    assert run(project, "git", "status", "--porcelain") == ""
    assert "train_seconds" in (project / "logs" / "train" / "bow.json").read_text()
    assert "train_seconds" not in (project / "data" / "models" / "bow" / "card.json").read_text()
    assert "train_seconds" not in (project / "reports" / "compare.json").read_text()
    for report in ("compare.md", "index.html"):
        assert "train s" not in (project / "reports" / report).read_text()


def test_metrics_show_has_one_row_per_featurizer(project, first_run):
    """`dvc metrics show`: the featurizers' test headline first, and nothing else, narrow enough for a terminal."""
    shown = run(project, "dvc", "metrics", "show")
    lines = shown.splitlines()
    rows = [line for line in lines if line.startswith("reports/metrics/")]
    assert sorted(rows_[len("reports/metrics/") :].split(".json")[0] for rows_ in rows) == sorted(FEATURIZERS)
    assert lines[0].split()[:2] == ["Path", "test.accuracy"] and len(rows) == len(lines) - 1
    assert max(len(line.rstrip()) for line in lines) <= 132, shown
    every = json.loads((project / "reports" / "eval" / "tfidf" / "metrics.json").read_text())
    assert set(every) == {"train", "val", "test"} and {"tp", "pr_auc", "threshold"} <= set(every["test"])


def test_one_featurizer_param_reruns_only_that_featurizer(pipeline):
    project = pipeline
    set_param(project, "train.tfidf.lr", 0.05)
    # compare and report read every featurizer's results, so they follow
    assert ran_stages(run(project, "dvc", "repro")) == {"train@tfidf", "evaluate@tfidf", "compare", "report"}
    assert "train.tfidf.lr" in run(project, "dvc", "params", "diff")
    # --all: on the sample data the new lr may leave every test metric as it was
    assert "reports/metrics/tfidf.json" in run(project, "dvc", "metrics", "diff", "--all")


def test_cars_param_reruns_only_the_cars_lesson(pipeline):
    project = pipeline
    set_param(project, "cars_train.target", "log_price")
    assert ran_stages(run(project, "dvc", "repro")) == {"cars_train", "report"}  # report shows every lesson
    metrics = json.loads((project / "reports" / "cars" / "metrics.json").read_text())
    assert abs(metrics["neuron_rmse_over_linear_regression"] - 1) < 0.01
    html = (project / "reports" / "index.html").read_text()
    assert "Lesson: used-car price" in html and "Celsius" in html


def test_split_seed_reruns_split_and_downstream_only(pipeline):
    project = pipeline
    set_param(project, "split.seed", 7)
    params = yaml.safe_load((project / "params.yaml").read_text())
    dense = [f for f in FEATURIZERS if params["featurize"][f]["kind"] == "transformer"]
    # Targets keep it short: one sparse and one dense neuron, and every encoder's featurize stage.
    output = run(project, "dvc", "repro", "evaluate@bow", "train@minilm", *(f"featurize@{name}" for name in dense))
    ran = ran_stages(output)
    assert "split" in ran and "download" not in ran and "prepare" not in ran
    assert {"featurize@bow", "train@bow", "evaluate@bow", "train@minilm"} <= ran
    for name in dense:  # embeddings do not depend on the split: their stages do not even run
        assert f"featurize@{name}" not in ran and f"Stage 'featurize@{name}' didn't change" in output


def test_concat_reuses_its_parts_and_predicts_through_them(pipeline):
    project = pipeline
    """A concat weight change reruns only the concat featurizer's stages; nothing is encoded, no part reruns."""
    set_param(project, "featurize.tfidf_minilm.weights", [1.0, 0.3])
    output = run(project, "dvc", "repro")
    assert ran_stages(output) == {
        "featurize@tfidf_minilm", "train@tfidf_minilm", "evaluate@tfidf_minilm", "compare", "report"
    }  # fmt: skip
    assert "to encode" not in output and "embed " not in output
    assert "tfidf_minilm" in run(project, "dvc", "metrics", "show")
    assert "mcc" in run(project, "spam", "compare", "tfidf", "tfidf_minilm")
    predicted = run(project, "spam", "predict", "--json", "--featurizer", "tfidf_minilm", "WIN a FREE prize now", "ok")
    rows = [json.loads(line) for line in predicted.splitlines() if line.startswith("{")]
    assert rows[0]["featurizer"] == "tfidf_minilm" and rows[0]["spam_probability"] > rows[1]["spam_probability"]


def test_outputs_hold_no_pickle(project, first_run):
    for path in (project / "data").rglob("*"):
        if path.is_file():
            assert path.suffix not in {".pkl", ".pickle", ".joblib", ".pt", ".pth"}, path
            assert not path.read_bytes()[:2] == b"\x80\x04", f"{path} looks like a pickle"


def test_offline_run_command_leaves_out_unloadable_encoders(tmp_path):
    """The README's `spam repro`, offline with an empty HF cache and an empty remote: runs without bart (whose
    vectors are neither here nor on the remote), says so, never writes params.yaml; compare and report cover bow."""
    project = copy_project(tmp_path, featurizers=["bow", "bart"], **LEAN_TRAINING)
    params_before = (project / "params.yaml").read_bytes()
    output = run(project, "spam", "repro")
    notes = [line for line in output.splitlines() if line.startswith("note:")]
    assert len(notes) == 2 and "left out bart" in notes[0] and "`hf download facebook/bart-base`" in notes[0], output
    assert output.rstrip().endswith(notes[1]) and "partial run: bart left out" in notes[1]  # the last word, too
    assert ran_stages(output) == {"download", "prepare", "split", "explore", "featurize@bow", "train@bow"} | {
        "evaluate@bow",
        "compare",
        "report",
        *LESSONS,
    }
    assert (project / "params.yaml").read_bytes() == params_before
    assert (project / "reports" / "metrics" / "bow.json").exists()
    # compare and report cover what is here, run and recorded by DVC, and say the rest is missing
    assert {"compare", "report"} <= ran_stages(output)
    assert "Partial: bart left out" in (project / "reports" / "compare.md").read_text()
    assert "Partial report:</strong> bart left out" in (project / "reports" / "index.html").read_text()
    again = run(project, "spam", "repro")
    assert ran_stages(again) == set() and (project / "params.yaml").read_bytes() == params_before
    assert "Data and pipelines are up to date." in again and "partial run: bart left out" in again
    set_param(project, "train.bow.lr", 0.04)  # not a no-op any more: DVC runs what changed, and only that
    assert ran_stages(run(project, "spam", "repro")) == {"train@bow", "evaluate@bow", "compare", "report"}
    listed = set(re.findall(r"^(\S+):$", run(project, "dvc", "status"), re.M))
    assert listed == {"featurize@bart", "train@bart", "evaluate@bart"}
    blocked = run(project, "spam", "repro", "compare", check=False)
    assert "error: compare needs bart" in blocked and "Running stage" not in blocked

    # No wall-clock bound here: test_embed checks that the offline model check makes no connection at all
    direct = run(project, "dvc", "repro", "featurize@bart", check=False)
    assert "facebook/bart-base" in direct and "hf download" in direct and "featurize.bart.model" in direct
    assert not (project / "data" / "features" / "bart").exists()


def test_sigterm_then_two_concurrent_spam_repro_end_up_to_date(tmp_path):
    """SIGTERM mid-run, then two `spam repro` at once (offline, bart left out): the killed run fails, one of the
    pair succeeds and the other finds the work done or is turned away by DVC's lock in one line, and the
    project ends up to date. (params.yaml is not checked: spam repro never writes it, see repro_plan.)

    A target keeps it short; the plan that leaves bart out runs all the same."""
    project = copy_project(tmp_path, featurizers=["bow", "bart"], **LEAN_TRAINING)
    env = offline_env(project)

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            ["spam", "repro", "evaluate@bow"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    first = start()
    for line in first.stdout:  # mid-run: once DVC has started a stage
        if "Running stage" in line:
            break
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=60)
    assert first.returncode != 0

    pair = [start(), start()]
    outputs = [p.communicate(timeout=600)[0] for p in pair]
    assert any(p.returncode == 0 for p in pair), outputs  # DVC's lock turns the other away, or it finds all done
    for process, output in zip(pair, outputs, strict=True):
        assert "Traceback" not in output, output
        if process.returncode:
            said = output.lower()  # turned away by DVC's lock (spam's plan or dvc itself), and said so
            assert "error:" in said and ("busy" in said or "lock" in said), output
    assert ran_stages(run(project, "spam", "repro", "evaluate@bow")) == set()
    assert (project / "reports" / "metrics" / "bow.json").exists()


def test_spam_repro_while_another_dvc_holds_the_lock_is_one_error_line(tmp_path):
    """The concurrent case above, made certain: while another process holds DVC's lock, `spam repro` (whose plan
    opens the project under that lock, bart being unloadable offline) is turned away in one line, no traceback."""
    project = copy_project(tmp_path, featurizers=["bow", "bart"], **LEAN_TRAINING)
    holder = subprocess.Popen(
        [sys.executable, "-c", "from dvc.repo import Repo, lock_repo; import sys, time\n"
         "with Repo('.') as repo, lock_repo(repo):\n    print('locked', flush=True); sys.stdin.read()"],
        cwd=project, env=offline_env(project), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = subprocess.run(
            ["spam", "repro", "evaluate@bow"], cwd=project, env=offline_env(project), capture_output=True, text=True
        )
    finally:
        holder.communicate(input="", timeout=60)  # closing its stdin releases the lock
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "lock" in errors[0] and "wait for the other dvc command" in errors[0], output


def test_compare_report_has_every_featurizer_with_intervals(project, first_run):
    report = json.loads((project / "reports" / "compare.json").read_text())
    assert list(report["featurizers"]) == FEATURIZERS and report["resamples"] == 2000
    for row in report["featurizers"].values():
        for metric in ("f1", "mcc"):
            low, high = row[f"{metric}_ci95"]
            assert low <= row[metric] <= high
    assert set(report["vs_baseline"]) == set(FEATURIZERS) - {"bow"}
    assert "| metric | bow | tfidf | change |" in (project / "reports" / "compare.md").read_text()
    assert (project / "reports" / "figures" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    explore = (project / "reports" / "explore.md").read_text()
    assert "duplicates dropped" in explore and "Top words per class" in explore


def test_spam_predict_and_compare_use_the_pipeline_outputs(project, first_run):
    output = run(project, "spam", "predict", "--json", "--featurizer", "tfidf", "WIN a FREE prize, txt CLAIM now", "ok")
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [row["message"] for row in rows] == ["WIN a FREE prize, txt CLAIM now", "ok"]
    assert all(0 <= row["spam_probability"] <= 1 and row["featurizer"] == "tfidf" for row in rows)
    assert rows[0]["spam_probability"] > rows[1]["spam_probability"]
    assert "mcc" in run(project, "spam", "compare", "bow", "minilm")
    unknown = run(project, "spam", "compare", "bow", "nosuch", check=False)
    assert "unknown featurizer 'nosuch'" in unknown and "evaluate@nosuch" not in unknown, unknown
    probe = (
        "import sys; from typer.testing import CliRunner; from stages.user.spam import app; "
        "result = CliRunner().invoke(app, ['predict', '--featurizer', 'tfidf', 'hi']); assert result.exit_code == 0; "
        "print([m for m in ('transformers', 'torch', 'pandas', 'sklearn') if m in sys.modules])"
    )
    assert run(project, sys.executable, "-c", probe).strip().endswith("[]")  # cold start stays light: numpy, scipy


def test_spam_predict_prints_what_evaluate_scored(project, first_run):
    """evaluate and `spam predict` score through one numpy neuron (stages/common/neuron.py): on the stored test
    features, the predictor gives exactly evaluate's probabilities, for every featurizer. From the text, it
    featurizes anew (numpy's vectorizer, other encoder batches), whose last float32 bits can differ from the
    stored features': at most one float32 step of the probability (measured: 7.5e-9, tfidf_minilm)."""
    probe = f"""
import numpy as np, pandas as pd
from stages.common.features import load_splits
from stages.user.predictor import load_predictor
messages = pd.read_parquet("data/prepared/messages.parquet").set_index("id")
for name in {FEATURIZERS!r}:
    scored = pd.read_parquet(f"data/predictions/{{name}}.parquet").query("split == 'test'")
    test = load_splits(f"data/features/{{name}}", "data/prepared/messages.parquet", "data/split/split.parquet")["test"]
    assert list(test.ids) == list(scored["id"]), name
    predictor = load_predictor(name)
    assert np.array_equal(predictor.probability_of(test.features), scored["score"].to_numpy()), name
    from_text = predictor.spam_probability(messages.loc[scored["id"], "text"].tolist())
    gap = float(np.abs(from_text - scored["score"].to_numpy()).max())
    assert gap <= 1e-7, (name, gap)
    print(name, gap)
"""
    lines = [line.split() for line in run(project, sys.executable, "-c", probe).splitlines()]  # stderr: bars
    assert [words[0] for words in lines if len(words) == 2 and words[0] in FEATURIZERS] == FEATURIZERS


def test_index_html_renders_offline_with_every_image(project, first_run):
    """Headless Chromium opens reports/index.html and every embedded image decodes."""
    if chromium() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it): index.html not rendered")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto((project / "reports" / "index.html").as_uri())
        loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        text = page.inner_text("body")
        browser.close()
    assert len(loaded) >= 4 * len(FEATURIZERS) + 4 and all(loaded)
    assert all(url.startswith(("file:", "data:")) for url in requests), requests  # nothing from the network
    assert all(name in text for name in FEATURIZERS)


@pytest.mark.parametrize(
    "message",
    [
        "x" * 100_000,
        "🎉🎉 FREE 🎁 prize!!! 📱 call now",
        "مرحبا، هل أنت قادم إلى الغداء غدا؟",
        "עברית ✓ mixed RTL text",
    ],
    ids=["100k-chars", "emoji", "arabic-rtl", "hebrew-rtl"],
)
def test_spam_predict_takes_odd_messages(project, first_run, message):
    for featurizer in ("tfidf", "minilm"):
        output = run(project, "spam", "predict", "--json", "--featurizer", featurizer, message)
        row = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
        assert row["message"] == message[:MAX_CHARS] and 0 <= row["spam_probability"] <= 1
        assert (len(message) > MAX_CHARS) == ("note:" in output), output  # a cut message gets a note


def test_spam_predict_refuses_binary_files(project, first_run):
    binary = project / "binary.bin"
    binary.write_bytes(b"ham\x00\x01\x02" * 100)
    output = run(project, "spam", "predict", "--file", str(binary), check=False)
    assert "error:" in output and "binary" in output and "Traceback" not in output


def test_kill_9_during_training_never_leaves_stale_weights(pipeline):
    project = pipeline
    """kill -9 of `dvc repro` while train@bow runs: the old model is gone and the next repro retrains."""
    set_param(project, "train.bow.epochs", 5000)
    set_param(project, "train.bow.patience", 0)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    repro = subprocess.Popen(
        ["dvc", "repro", "train@bow"], cwd=project, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # The event to kill on: train@bow's temporary model directory exists, which atomic_dir makes just before
    # the 5,000 epochs (seconds of them) start, and after DVC has removed the old model.
    model = project / "data" / "models" / "bow" / "model.safetensors"
    deadline = time.monotonic() + 120  # only how long to wait for the event before failing
    while repro.poll() is None and time.monotonic() < deadline:
        if list(model.parent.parent.glob(".bow.*.tmp")) and not model.exists():
            break
        time.sleep(0.05)
    assert list(model.parent.parent.glob(".bow.*.tmp")), "train@bow never started training"
    assert repro.poll() is None, "train@bow ended before the kill: raise its epochs in this test"
    os.killpg(repro.pid, signal.SIGKILL)
    repro.wait()
    assert not (project / "data" / "models" / "bow" / "model.safetensors").exists()  # DVC removed the old one
    assert "train@bow" in run(project, "dvc", "status")
    output = run(project, "dvc", "repro", "evaluate@bow")
    assert ran_stages(output) == {"train@bow", "evaluate@bow"}
    card = json.loads((project / "data" / "models" / "bow" / "card.json").read_text())
    assert card["epochs_run"] == 5000
    assert not list((project / "data" / "models").glob(".*.tmp"))
