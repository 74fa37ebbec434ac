"""Encoding throughput of the two featurize engines on the same messages, in one run: `local` (this
process) against `ray` (a Ray Data actor pool, stages/common/ray_engine.py), each from an empty cache.

Both timings include loading the model (once in-process; once per actor for ray) and writing the cache
chunks; Ray's own start-up is timed apart (it is paid once per featurize run, or never with RAY_ADDRESS).
Runs alternate local, ray, local, ray... so that load on the machine hits both alike.

    python bench/engines.py [--featurizer minilm] [--messages 2000] [--repeats 2]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import typer

from stages.common.embedding import embed
from stages.common.params import load_params
from stages.common.ray_engine import pool_size, ray_session

SOURCE = Path("data/vendor/sms_spam/SMSSpamCollection")


def messages(count: int) -> list[str]:
    texts = list(dict.fromkeys(line.split("\t", 1)[1] for line in SOURCE.read_text(encoding="utf-8").splitlines()))
    return [f"{texts[i % len(texts)]}{'' if i < len(texts) else f' ({i // len(texts)})'}" for i in range(count)]


def timed_embed(texts: list[str], params, featurizer: str) -> float:
    with tempfile.TemporaryDirectory(prefix="engines-") as cache:
        started = time.perf_counter()
        _, run = embed(texts, params, featurizer, Path(cache))
        seconds = time.perf_counter() - started
    assert run.encoded == len(set(texts)), run
    return seconds


def main(
    featurizer: str = typer.Option("minilm"),
    count: int = typer.Option(2000, "--messages", help="messages encoded per run"),
    repeats: int = typer.Option(2),
) -> None:
    params = load_params().featurize[featurizer]
    texts = messages(count)
    started = time.perf_counter()
    with ray_session() as ray:
        startup = time.perf_counter() - started
        actors, gpus, threads = pool_size(ray)
        times = {"local": [], "ray": []}
        for _ in range(repeats):
            times["local"].append(timed_embed(texts, params.model_copy(update={"engine": "local"}), featurizer))
            times["ray"].append(timed_embed(texts, params.model_copy(update={"engine": "ray"}), featurizer))
    print(f"{featurizer}, {count:,} messages, median of {repeats} alternating runs each, empty cache each run:")
    rates = {}
    for engine, seconds in times.items():
        rates[engine] = count / statistics.median(seconds)
        print(f"  {engine:5s} {rates[engine]:7.1f} msgs/s  (runs: {', '.join(f'{s:.1f} s' for s in seconds)})")
    print(f"  ray / local: {rates['ray'] / rates['local']:.2f}")
    print(f"  ray: {actors} actor(s), {gpus:g} GPU and {threads} torch thread(s) each; Ray start-up {startup:.1f} s")


if __name__ == "__main__":
    typer.run(main)
