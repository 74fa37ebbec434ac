"""Writing train's dvclive loss curves: one `next_step()` per epoch against setting the step (what train does).

`next_step()` syncs, and each sync re-reads every .tsv written so far (to post to DVC Studio, even with Studio
off: iterative/studio-support#95), so its cost grows with the square of the epochs. Both ways write the same
loss curves (plots/); this checks that, and times both in this process on the same history, for each number of epochs:
    python bench/train_log.py [--epochs 1000,2000,4000]
"""

from __future__ import annotations

import filecmp
import tempfile
import time
from pathlib import Path

import typer
from dvclive import Live

from stages.train import log_loss_curves


def with_next_step(live_dir: Path, history: list[dict]) -> None:
    """The way train wrote them before: dvclive's documented loop."""
    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None) as live:
        for row in history:
            live.log_metric("loss/train", row["train_loss"])
            live.log_metric("loss/val", row["val_loss"])
            live.next_step()


def same_files(a: Path, b: Path) -> bool:
    a, b = a / "plots", b / "plots"  # what train keeps (it drops dvclive's summary)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        filecmp.cmp(a / f, b / f, shallow=False) for f in files
    )


def main(epochs: str = typer.Option("1000,2000,4000", help="comma-separated numbers of epochs")) -> None:
    typer.echo("| epochs | next_step() s | step set s | ratio | same files |\n| --- | --- | --- | --- | --- |")
    for n in (int(e) for e in epochs.split(",")):
        history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 2 / e} for e in range(1, n + 1)]
        with tempfile.TemporaryDirectory() as tmp:
            seconds = {}
            for name, write in (("next_step", with_next_step), ("step", log_loss_curves)):
                started = time.perf_counter()
                write(Path(tmp) / name, history)
                seconds[name] = time.perf_counter() - started
            same = same_files(Path(tmp) / "next_step", Path(tmp) / "step")
        ratio = seconds["next_step"] / seconds["step"]
        typer.echo(f"| {n:,} | {seconds['next_step']:.2f} | {seconds['step']:.3f} | {ratio:.0f}x | {same} |")


if __name__ == "__main__":
    typer.run(main)
