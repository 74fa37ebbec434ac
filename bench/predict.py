"""`spam predict` as a user meets it: cold-start wall time for one message, and messages/s on a
10,000-line file, per trained featurizer (each a fresh process, as on the command line).

First, in the same run and interleaved (so that load on the machine hits both alike), a cold
`spam predict --featurizer tfidf "hi"` against a bare `python -c "import numpy, scipy.sparse"`: bow/tfidf
scoring needs nothing more (target: within 2x). Also lists the heavy modules each featurizer imports.
Run after `spam repro`:
    python bench/predict.py [--messages 10000] [--repeats 3] [--cold-repeats 7]
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

from stages.user.predictor import trained_featurizers

HEAVY = ("torch", "pandas", "sklearn", "transformers")
PROBE = (
    "import sys; from typer.testing import CliRunner; from stages.user.spam import app; "
    "CliRunner().invoke(app, ['predict', '--featurizer', sys.argv[1], 'Free prize! Call now']); "
    f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')"
)
BARE = [sys.executable, "-c", "import numpy, scipy.sparse"]


def wall(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def spam_command() -> list[str]:
    """The `spam` console script installed beside this Python (what a user types), else python -m."""
    script = Path(sys.executable).with_name("spam")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stages.user.spam"]


def main(
    messages: int = typer.Option(10_000),
    repeats: int = typer.Option(3),
    cold_repeats: int = typer.Option(7, help="runs of each side of the cold-start comparison"),
) -> None:
    spam = spam_command()
    hi = [*spam, "predict", "--featurizer", "tfidf", "hi"]
    wall(BARE), wall(hi)  # warm the OS file cache for both sides
    bare, cold = [], []
    for _ in range(cold_repeats):
        bare.append(wall(BARE)[0])
        cold.append(wall(hi)[0])
    ratio = statistics.median(cold) / statistics.median(bare)
    print(f"cold start, median of {cold_repeats} interleaved runs each:")
    print(f"  python -c 'import numpy, scipy.sparse'  {statistics.median(bare):6.3f} s")
    print(f"  {' '.join([Path(spam[0]).name, *spam[1:], *hi[len(spam) :]])!s:<38}  {statistics.median(cold):6.3f} s")
    print(f"  ratio {ratio:.2f}x (target: within 2x)\n")

    texts = pd.read_parquet("data/prepared/messages.parquet")["text"].sample(messages, replace=True, random_state=0)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(" ".join(t.split()) for t in texts) + "\n")
    predict = [*spam, "predict"]
    print(f"{'featurizer':<10} {'one message, s':>15} {f'{messages:,} messages, msgs/s':>26}  heavy modules imported")
    for name in trained_featurizers():
        one = [wall([*predict, "--featurizer", name, "Free prize! Call now"])[0] for _ in range(repeats)]
        seconds, _ = wall([*predict, "--featurizer", name, "--json", "--file", handle.name])
        _, probe = wall([sys.executable, "-c", PROBE, name])
        print(f"{name:<10} {statistics.median(one):15.2f} {messages / seconds:26.0f}  {probe.strip()}")
    Path(handle.name).unlink()


if __name__ == "__main__":
    typer.run(main)
