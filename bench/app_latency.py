"""The app's answer time per featurizer: what one click on "Classify" costs after warm-up (no HTTP).

Times `stages.user.app.classify` (verdict, probability and, for bow/tfidf, the word explanation) for each
trained featurizer alone, median over --calls calls on real messages. Run after `spam repro`:
    python bench/app_latency.py [--calls 100]
"""

from __future__ import annotations

import statistics
import time

import pandas as pd
import typer

from stages.user.app import classify, load_predictors


def main(calls: int = typer.Option(100)) -> None:
    texts = pd.read_parquet("data/prepared/messages.parquet")["text"].sample(calls, random_state=0).tolist()
    predictors = load_predictors()
    print(f"{'featurizer':<10} {'median ms':>10} {'p95 ms':>8}  ({calls} messages, after one warm-up call)")
    for name, predictor in predictors.items():
        alone = {name: predictor}
        classify(texts[0], alone)
        seconds = []
        for text in texts:
            started = time.perf_counter()
            classify(text, alone)
            seconds.append(time.perf_counter() - started)
        p95 = statistics.quantiles(seconds, n=20)[-1]
        print(f"{name:<10} {statistics.median(seconds) * 1000:10.1f} {p95 * 1000:8.1f}")


if __name__ == "__main__":
    typer.run(main)
