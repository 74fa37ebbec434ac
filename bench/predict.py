"""`spam predict` as a user meets it: cold-start wall time for one message, and messages/s on a
10,000-line file, per trained featurizer (each a fresh process, as on the command line).

Also checks that bow/tfidf never import transformers. Run after `spam repro`:
    python bench/predict.py [--messages 10000] [--repeats 3]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import typer

from stages.common.predictor import trained_featurizers

PROBE = (
    "import sys; from typer.testing import CliRunner; from stages.spam import app; "
    "CliRunner().invoke(app, ['predict', '--featurizer', sys.argv[1], 'Free prize! Call now']); "
    "print('transformers imported:', 'transformers' in sys.modules)"
)


def wall(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def main(messages: int = typer.Option(10_000), repeats: int = typer.Option(3)) -> None:
    texts = pd.read_parquet("data/prepared/messages.parquet")["text"].sample(messages, replace=True, random_state=0)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(" ".join(t.split()) for t in texts) + "\n")
    spam = [sys.executable, "-m", "stages.spam", "predict"]
    print(f"{'featurizer':<10} {'one message, s':>15} {f'{messages:,} messages, msgs/s':>26}  transformers imported")
    for name in trained_featurizers():
        cold = [wall(spam + ["--featurizer", name, "Free prize! Call now"])[0] for _ in range(repeats)]
        seconds, _ = wall(spam + ["--featurizer", name, "--json", "--file", handle.name])
        _, probe = wall([sys.executable, "-c", PROBE, name])
        imported = probe.strip().splitlines()[-1].split(": ")[-1]
        print(f"{name:<10} {statistics.median(cold):15.2f} {messages / seconds:26.0f}  {imported}")
    Path(handle.name).unlink()


if __name__ == "__main__":
    typer.run(main)
