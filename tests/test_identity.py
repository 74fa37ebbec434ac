"""A forced rerun with unchanged inputs writes byte-identical hashed outputs, so nothing downstream reruns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.sample_project import ran_stages, run

pytestmark = pytest.mark.slow
FEATURIZERS = ["bow", "tfidf", "bart", "bert", "minilm"]
# Every featurize (each kind of featurizer writes its own files), and train and evaluate for one sparse and one
# dense featurizer: the other featurizers go through the same code there (tests/test_pipeline.py forces bow's).
FORCED = [f"featurize@{name}" for name in FEATURIZERS] + ["train@minilm", "evaluate@tfidf", "evaluate@minilm"]
HASHED = ["data/features", "data/models", "data/predictions"]


def digests(project: Path) -> dict[str, str]:
    files = sorted(f for top in HASHED for f in (project / top).rglob("*") if f.is_file() and f.name != ".gitignore")
    return {f.relative_to(project).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_forced_featurize_and_evaluate_change_no_hash(project, first_run):
    before = digests(project)
    assert any(name.endswith("encoder.json") for name in before) and any(n.endswith(".npz") for n in before)
    output = run(project, "dvc", "repro", "--force", "--single-item", *FORCED)
    assert ran_stages(output) == set(FORCED)
    assert digests(project) == before
    status = run(project, "dvc", "status")
    assert "Data and pipelines are up to date" in status, status
    # The run's facts went to the log instead: all cache hits this time, and what was used.
    facts = json.loads((project / "logs" / "featurize" / "minilm.json").read_text())
    assert facts["encoded"] == 0 and facts["cache_hits"] == facts["messages"] > 0
    assert facts["dtype"] == "float64" and facts["device"] == "cpu" and facts["model_fingerprint"].startswith("sha256:")
    card = json.loads((project / "data" / "features" / "minilm" / "encoder.json").read_text())
    assert set(card) == {"params", "model_fingerprint", "dims"} and card["dims"] == 384
