"""Cost of prepare's near-duplicate grouping (stages/common/near_duplicates.py) at n messages.

The corpus is bench/scale.py's: the collection's distinct messages, then perturbed copies of them (new digits,
a typo, words swapped, dropped or borrowed) until n: a hard case, since most copies are near-twins of one of
~5 k originals, so LSH buckets hold hundreds of messages. Times the grouping alone (not building the corpus)
and reports this process's peak RSS (ru_maxrss, corpus included). One size per process, for a clean peak:

    python bench/near_dups.py --size 100000
    python bench/near_dups.py --size 1000000 --num-perm 64
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import build_corpus, read_collection  # noqa: E402
from stages.common.near_duplicates import group_near_duplicates  # noqa: E402
from stages.prepare import message_id  # noqa: E402


def main(
    size: int = typer.Option(100_000, help="messages"),
    method: str = typer.Option("minhash"),
    threshold: float = typer.Option(0.5),
    shingle_size: int = typer.Option(5),
    num_perm: int = typer.Option(128),
) -> None:
    corpus = build_corpus(read_collection(), size)
    texts = [text for _, text in corpus]
    ids = [message_id(text) for text in texts]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start, cpu_start = time.perf_counter(), time.process_time()
    grouping = group_near_duplicates(ids, texts, method, threshold, shingle_size, num_perm)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    sizes = grouping.sizes()
    result = {
        "messages": size,
        "method": method,
        "threshold": threshold,
        "shingle_size": shingle_size,
        "num_perm": num_perm,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),  # the same on a busy machine, where wall seconds are not
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_before_grouping_bytes": rss_before,
        "groups": len(sizes),
        "messages_in_groups": sum(sizes.values()),
        "largest_group": max(sizes.values(), default=0),
    }
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    typer.run(main)
