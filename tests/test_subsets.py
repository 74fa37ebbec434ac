"""`featurizers` is the pipeline's one list: any subset runs under plain DVC, and status is clean after it.

The subset with every featurizer is the `pipeline` fixture's run (tests/test_pipeline.py, tiny BART/BERT).
"""

from __future__ import annotations

import pytest

from tests.sample_project import LEAN_TRAINING, copy_project, ran_stages, run

pytestmark = pytest.mark.slow
UP_TO_DATE = "Data and pipelines are up to date."
PER_FEATURIZER = ("featurize", "train", "evaluate")


def commit(project, message: str) -> None:
    run(project, "git", "add", "-A")
    run(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


@pytest.mark.parametrize("featurizers", [["bow"], ["tfidf", "minilm", "tfidf_minilm"]], ids=["bow", "concat"])
def test_plain_dvc_repro_builds_exactly_the_listed_featurizers(tmp_path, featurizers):
    project = copy_project(tmp_path / "project", featurizers=featurizers, **LEAN_TRAINING)
    ran = ran_stages(run(project, "dvc", "repro"))
    assert {stage for stage in ran if "@" in stage} == {f"{s}@{f}" for s in PER_FEATURIZER for f in featurizers}
    assert UP_TO_DATE in run(project, "dvc", "status")
    if "bow" not in featurizers:  # compare.baseline left out by the list: the first featurizer takes its place
        assert f"Baseline: {featurizers[0]}, as compare.baseline (bow)" in (project / "reports/compare.md").read_text()
    if "minilm" not in featurizers:
        return
    # A new split reruns what is fitted on train (tfidf, the concat's standardisation), never the encoder
    commit(project, "baseline")
    output = run(project, "dvc", "exp", "run", "-S", "split.seed=43")
    assert {"split", "featurize@tfidf", "featurize@tfidf_minilm", "train@minilm"} <= ran_stages(output)
    assert "featurize@minilm" not in ran_stages(output), output


def test_the_full_list_leaves_status_clean(pipeline):
    assert UP_TO_DATE in run(pipeline, "dvc", "status")
