"""featurizers/NAME/inputs.yaml: what each featurize stage reads, current with params.yaml and dvc.yaml."""

from __future__ import annotations

import re

import pytest
import yaml

from stages.common.errors import StageError
from stages.common.featurize_inputs import INPUT_SLOTS, VARS_KEY, check_inputs, inputs_dir, stale_inputs, sync_inputs
from stages.common.layout import FEATURIZER_INPUTS_DIR, INPUTS_FILE
from stages.common.params import load_params
from tests.conftest import ROOT, real_params, write_params


def slots(path) -> list[str]:
    return yaml.safe_load(path.read_text())[VARS_KEY]


def test_the_committed_inputs_are_current_with_params_yaml():
    """`spam sync` has nothing to write in this checkout: one file per featurizer defined, each as params give."""
    params = load_params(ROOT / "params.yaml")
    assert stale_inputs(params, ROOT) == [], "run `spam sync` and commit featurizers/"
    assert sorted(p.name for p in (ROOT / FEATURIZER_INPUTS_DIR).iterdir()) == sorted(params.featurize)


def test_dvc_yaml_fills_every_slot():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["featurize"]["do"]
    used = sorted(int(m) for dep in stage["deps"] for m in re.findall(rf"\$\{{{VARS_KEY}\.(\d+)\}}", dep))
    assert used == list(range(INPUT_SLOTS)) and stage["vars"] == [INPUTS_FILE]


def test_encoders_read_no_split_and_a_concat_reads_its_parts():
    """A split change reruns bow and tfidf (fitted on train) and the concat, never an encoder."""
    base = ROOT / FEATURIZER_INPUTS_DIR
    split = "../../data/split/split.parquet"
    for name in ("bart", "bert", "minilm"):
        assert slots(base / name / INPUTS_FILE) == [INPUTS_FILE] * INPUT_SLOTS
    for name in ("bow", "tfidf"):
        assert slots(base / name / INPUTS_FILE) == [split] + [INPUTS_FILE] * (INPUT_SLOTS - 1)
    assert slots(base / "tfidf_minilm" / INPUTS_FILE)[:3] == [
        split,
        "../../data/features/tfidf",
        "../../data/features/minilm",
    ]


def test_sync_writes_new_and_changed_featurizers_and_removes_dropped_ones(tmp_path, monkeypatch):
    params = real_params()
    params["featurize"]["bow_minilm"] = {"kind": "concat", "parts": ["bow", "minilm"]}
    write_params(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    stray = inputs_dir("gone") / INPUTS_FILE
    stray.parent.mkdir(parents=True)
    stray.write_text("featurize_inputs: []\n")
    first = sync_inputs(load_params())
    assert sorted(first) == sorted([*params["featurize"], "-gone"]) and not stray.parent.exists()
    assert slots(inputs_dir("bow_minilm") / INPUTS_FILE)[2] == "../../data/features/minilm"
    assert sync_inputs(load_params()) == []  # nothing to do the second time
    params["featurize"]["bow_minilm"]["parts"] = ["tfidf", "minilm"]
    write_params(tmp_path, params)
    with pytest.raises(StageError, match=r"featurizers/bow_minilm/inputs.yaml does not match .*`spam sync`"):
        check_inputs(load_params(), "bow_minilm")  # featurize refuses it: DVC hashed bow, it would read tfidf
    check_inputs(load_params(), "bow")
    assert sync_inputs(load_params()) == ["bow_minilm"]
