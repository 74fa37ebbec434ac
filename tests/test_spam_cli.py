"""The `spam` command's input handling and the bootstrap comparison, without a trained pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm
from typer.testing import CliRunner

from stages.common.errors import CONTROL, StageError
from stages.common.metrics import (
    metrics_from_counts,
    paired_difference,
    point_metrics,
    resample_indices,
    resampled_metrics,
)
from stages.user.predictor import best_featurizer, load_predictor
from stages.user.spam import app, read_messages
from tests.conftest import ROOT

runner = CliRunner()


def test_messages_from_a_file_skip_and_count_blank_lines(tmp_path):
    path = tmp_path / "m.txt"
    path.write_bytes("\ufeffhello there\r\n\r\n   \nWIN a prize\n".encode())
    assert read_messages([], path) == (["hello there", "WIN a prize"], 2)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"ok\nfine\x00\x01\x02", "NUL byte on line 2"),
        (b"ok\n\xff\xfe bad", "not UTF-8 text (line 2)"),
        (b"\n \n", "no messages"),
    ],
)
def test_binary_or_empty_files_are_refused_with_the_line(tmp_path, content, expected):
    path = tmp_path / "m.txt"
    path.write_bytes(content)
    with pytest.raises(StageError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_messages([], path)


def test_arguments_that_are_not_utf8_are_refused():
    with pytest.raises(StageError, match="message 2 is not valid UTF-8"):
        read_messages(["hi", "caf\udce9"], None)  # how Python passes the byte 0xE9 of a Latin-1 argument


def test_empty_message_argument_is_refused():
    with pytest.raises(StageError, match="message 2 is empty"):
        read_messages(["hi", "  "], None)


def test_predict_without_trained_models_names_the_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["predict", "hello"])
    assert result.exit_code == 1 and "spam repro" in result.output
    result = runner.invoke(app, ["predict", "--featurizer", "bart", "hello"])
    assert result.exit_code == 1 and "dvc repro train@bart" in result.output


def test_unknown_featurizer_lists_the_known_ones(in_tmp):
    result = runner.invoke(app, ["predict", "--featurizer", "word2vec", "hello"])
    assert result.exit_code == 1 and "unknown featurizer 'word2vec'" in result.output and "tfidf" in result.output


def test_unreadable_file_is_a_clean_error(tmp_path):
    result = runner.invoke(app, ["predict", "--file", str(tmp_path / "missing.txt")])
    assert result.exit_code == 1 and "missing.txt" in result.output and "Traceback" not in result.output


def test_help_explains_with_examples():
    assert "spam predict" in runner.invoke(app, ["--help"]).output
    for command in ("predict", "compare", "repro", "push"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output


def test_best_featurizer_is_the_highest_validation_mcc(tmp_path):
    for name, val_mcc, test_mcc in (("bow", 0.8, 0.99), ("tfidf", 0.9, 0.5)):
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "card.json").write_text("{}")
        (tmp_path / "metrics").mkdir(exist_ok=True)
        (tmp_path / "metrics" / f"{name}.json").write_text(
            json.dumps({"val": {"mcc": val_mcc}, "test": {"mcc": test_mcc}})
        )
    assert best_featurizer(tmp_path / "metrics", tmp_path / "models").featurizer == "tfidf"


def test_while_the_best_model_retrains_predict_says_which_it_uses_instead(tmp_path):
    for name, val_mcc in (("bow", 0.8), ("tfidf", 0.9)):
        (tmp_path / "metrics").mkdir(exist_ok=True)
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps({"val": {"mcc": val_mcc}}))
    (tmp_path / "models" / "bow").mkdir(parents=True)
    (tmp_path / "models" / "bow" / "card.json").write_text("{}")  # tfidf's model: removed by DVC, retraining
    choice = best_featurizer(tmp_path / "metrics", tmp_path / "models")
    assert choice.featurizer == "bow"
    assert "tfidf" in choice.note and "using bow" in choice.note and "dvc repro train@tfidf" in choice.note


def test_missing_model_lists_what_is_trained(tmp_path):
    with pytest.raises(StageError, match="trained: none yet"):
        load_predictor("bow", tmp_path / "models", tmp_path / "features")


def test_count_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted).ravel()
    ours = metrics_from_counts(tp, fp, tn, fn)
    assert ours["f1"] == pytest.approx(skm.f1_score(labels, predicted))
    assert ours["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, predicted))
    assert ours["precision"] == pytest.approx(skm.precision_score(labels, predicted))


def paired(labels, old, new, indices):
    """paired_difference from each side's point metrics and bootstrap (as compare_featurizers computes them)."""
    boots = [resampled_metrics(labels, guess, indices) for guess in (old, new)]
    return paired_difference(point_metrics(labels, old), point_metrics(labels, new), *boots)


def test_paired_bootstrap_confirms_real_gaps_only():
    rng = np.random.default_rng(1)
    labels = (rng.random(800) < 0.12).astype(int)
    good = labels.copy()
    good[rng.choice(800, 10, replace=False)] ^= 1  # 10 mistakes
    bad = labels.copy()
    bad[rng.choice(800, 80, replace=False)] ^= 1  # 80 mistakes
    indices = resample_indices(len(labels), 2000, seed=0)
    same = paired(labels, good, good, indices)
    assert same["mcc"].change == 0 and same["mcc"].ci95 == [0, 0] and not same["mcc"].confirmed
    gap = paired(labels, bad, good, indices)
    assert gap["mcc"].change > 0 and gap["mcc"].confirmed
    low, high = gap["mcc"].ci95
    assert low < gap["mcc"].change < high
    tiny = good.copy()
    tiny[np.flatnonzero(labels)[0]] ^= 1  # one more mistake: not something 800 messages can confirm
    assert not paired(labels, tiny, good, indices)["recall"].confirmed


HEAVY = ("torch", "pandas", "sklearn", "transformers", "pyarrow")


@pytest.mark.parametrize("featurizer", ["bow", "tfidf", None])
def test_bow_and_tfidf_predict_import_no_torch_pandas_or_sklearn(tmp_path, featurizer):
    """`spam predict` on a sparse model is numpy, scipy and safetensors' numpy loader: w·x + b."""
    from tests.tiny_trained import make_trained

    make_trained(tmp_path, "bow", val_mcc=0.8)
    make_trained(tmp_path, "tfidf", val_mcc=0.9, kind="tfidf")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    chosen = ["--featurizer", featurizer] if featurizer else []
    probe = (
        "import sys, json; from typer.testing import CliRunner; from stages.user.spam import app; "
        f"result = CliRunner().invoke(app, ['predict', *{chosen!r}, '--json', 'WIN a free prize']); "
        f"print(result.output.strip()); print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    *rows, imported = done.stdout.splitlines()
    assert json.loads(rows[-1])["featurizer"] == (featurizer or "tfidf"), done.stdout + done.stderr
    assert json.loads(imported) == []


def test_sigterm_reaches_the_foreground_child_and_nothing_is_orphaned(tmp_path):
    """spam repro's non-exec path (encoders left out) runs dvc as a child: a SIGTERM to spam must stop it too."""
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / "child.pid"
    child = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from stages.user.spam import run_in_foreground; run_in_foreground([{sys.executable!r}, '-c', {child!r}])",
        ]
    )
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child_pid = int(marker.read_text())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=20) == 0  # run_in_foreground returned the child's code; the parent went on
    time.sleep(0.2)
    try:
        os.kill(child_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the child outlived a SIGTERM to spam"


def test_repro_outside_a_dvc_project_is_one_error_line(in_tmp, monkeypatch):
    """params.yaml but no DVC project around it: one line that says where to run, no traceback."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, ["repro"])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "where dvc.yaml is" in result.output, result.output
    assert "Traceback" not in result.output


def test_repro_with_a_broken_dvc_config_is_dvcs_message_in_one_line(in_tmp, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (in_tmp / ".dvc").mkdir()
    (in_tmp / ".dvc" / "config").write_text("[core\nbroken")
    result = runner.invoke(app, ["repro"])
    assert result.exit_code == 1, result.output
    assert "error: config file error" in result.output and "Traceback" not in result.output, result.output


def test_predict_table_shows_a_messages_terminal_controls_escaped(trained):
    """A message's escape codes are written out, never sent to the terminal (issue 24): `\\033[1G` moved the
    cursor to the line's start and painted over the label. --json escapes them already."""
    message = "\x1b[1G\x1b[31mham   0.0000\x9b2K\u202eevil\x07 done\x00"
    result = CliRunner().invoke(app, ["predict", "--featurizer", "bow", message])
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[1]
    assert not CONTROL.search(row), repr(row)
    assert row.endswith("\\x1b[1G\\x1b[31mham 0.0000\\x9b2K\\u202eevil\\x07 done\\x00"), repr(row)
    as_json = CliRunner().invoke(app, ["predict", "--json", "--featurizer", "bow", message])
    assert json.loads(as_json.output.splitlines()[-1])["message"] == message  # the text itself is unchanged


def test_repro_refuses_a_fifo_in_data_sources_before_dvc_reads_it(in_tmp, monkeypatch):
    """`dvc status` hangs hashing a FIFO in data/sources (issue 24): spam repro names it first."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (in_tmp / "data/sources").mkdir(parents=True)
    os.mkfifo(in_tmp / "data/sources/pipe.csv")
    result = runner.invoke(app, ["repro"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: data/sources/pipe.csv is a FIFO (named pipe)"), result.output
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output


def test_compare_resamples_over_the_limit_is_one_error_line(in_tmp):
    """`spam compare bow tfidf --resamples 1000000` allocated 5.78 GiB and died in a traceback (issue 24)."""
    result = runner.invoke(app, ["compare", "bow", "tfidf", "--resamples", "1000000"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "error: --resamples 1,000,000 is over the limit of 100,000 (the bootstrap holds resamples x test messages "
        "indices in memory)"
    ], result.output
