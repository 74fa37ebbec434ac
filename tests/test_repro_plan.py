"""`spam repro`'s plan with a concat featurizer built on an encoder it can neither load nor pull."""

from __future__ import annotations

from stages.common.params import load_params
from stages.user.repro_plan import dvc_project, plan_repro, remote_worth_pulling
from tests.sample_project import copy_project


def test_a_concat_built_on_a_left_out_encoder_is_left_out_with_it(tmp_path, monkeypatch):
    """bart cannot be loaded (hub id, offline, empty remote): bow_bart = concat(bow, bart) waits with it."""
    project = copy_project(
        tmp_path / "p",
        featurizers=["bow", "bart", "bow_bart"],
        **{"featurize.bow_bart": {"kind": "concat", "parts": ["bow", "bart"]}, "train.bow_bart": {"lr": 0.05}},
    )
    monkeypatch.chdir(project)  # as `spam repro` runs: DVC names stages relative to the working directory
    params = load_params()
    assert params.concat_parts() == {"bow_bart": ["bow", "bart"]}

    with dvc_project() as repo:
        plan = plan_repro(repo, ["bart"], concats=params.concat_parts())

    assert plan.left_out == ["bart"] and plan.built_on_left_out == ["bow_bart"]
    assert {"featurize@bow_bart", "train@bow_bart", "evaluate@bow_bart", "compare", "report"} <= set(plan.waiting)
    assert "featurize@bow" not in plan.waiting and "train@bow" in plan.targets
    assert not {"featurize@bow_bart", "featurize@tfidf_minilm", "train@bow_bart", "compare"} & set(plan.targets)


def test_pull_only_from_a_default_remote_that_may_hold_outputs(tmp_path, monkeypatch):
    """An empty local default remote (a fresh clone's) gets no `--pull`: DVC would only warn per stage."""
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    assert not remote_worth_pulling()  # no default remote
    remote = tmp_path / "remote"
    config = tmp_path / ".dvc" / "config"
    config.write_text(f"[core]\n    remote = local\n['remote \"local\"']\n    url = {remote}\n")
    assert not remote_worth_pulling()  # not there yet
    (remote / "files" / "md5" / "ab").mkdir(parents=True)
    assert not remote_worth_pulling()  # folders, no object
    (remote / "files" / "md5" / "ab" / "cdef").write_bytes(b"x")
    assert remote_worth_pulling()
    config.write_text("[core]\n    remote = team\n['remote \"team\"']\n    url = ssh://example.invalid/dvc\n")
    assert remote_worth_pulling()  # never asked: it may hold them
