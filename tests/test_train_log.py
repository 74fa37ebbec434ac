"""train's dvclive loss curves: one row per epoch, written without dvclive's per-step sync."""

from __future__ import annotations

import csv

import dvclive

from stages.train import log_loss_curves


def history(epochs: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 1 / e, "val_loss": 2 / e} for e in range(1, epochs + 1)]


def test_loss_curves_hold_one_row_per_epoch_and_nothing_undeclared(tmp_path):
    log_loss_curves(tmp_path, history(3))
    assert [p.name for p in tmp_path.iterdir()] == ["plots"]  # dvc.yaml declares plots/metrics, nothing else
    for name, column in (("train", "train_loss"), ("val", "val_loss")):
        with (tmp_path / "plots" / "metrics" / "loss" / f"{name}.tsv").open() as tsv:
            rows = list(csv.DictReader(tsv, delimiter="\t"))
        assert [int(r["step"]) for r in rows] == [0, 1, 2]
        assert [float(r[name]) for r in rows] == [row[column] for row in history(3)]


def test_long_training_does_not_sync_every_step(tmp_path, monkeypatch):
    """Each `Live.sync` (what `next_step` calls) re-reads every .tsv: once per epoch made 10,000 epochs take minutes."""
    syncs = []
    original = dvclive.Live.sync
    monkeypatch.setattr(dvclive.Live, "sync", lambda live: syncs.append(1) or original(live))
    log_loss_curves(tmp_path, history(500))
    assert len(syncs) <= 2, len(syncs)
