"""Near-duplicate groups of messages: texts equal once normalised, or (method minhash) whose character
shingles overlap at or above a Jaccard threshold. prepare writes the groups; split keeps each group inside
one part, so a spam campaign's variants (one template, another number or prize) cannot sit in train and test.

Deterministic and the same on every CPU: MinHash (datasketch, fixed seed) only proposes candidate pairs,
in integer arithmetic (sha1, then uint32 products that wrap: no float); each candidate joins only if the
exact Jaccard of its two shingle sets, counted in Python, reaches the threshold, so MinHash's estimation
noise never decides a pair. Groups are the connected components of those pairs (union-find), named by
their smallest message id: the same whatever the rows' order. docs/data.md#near-duplicates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

import numpy as np

Method = Literal["normalised", "minhash"]
# datasketch >= 2 draws its permutations from numpy's RandomState(seed) and permutes in uint32 integer
# arithmetic (scheme affine32): fixed seed and scheme, the same signatures everywhere.
MINHASH_SEED, MINHASH_SCHEME = 1, "affine32"
# LSH bands: the fewest rows per band (most candidates) that find a pair exactly at the threshold with at
# least this probability; pairs above it are found more often, and a twin usually joins through several.
RECALL_AT_THRESHOLD = Decimal("0.95")
DIGIT_RUNS = re.compile(r"\d+")


@dataclass(frozen=True)
class Grouping:
    """One group id per message, in the input's order: the smallest message id of its group (its own when alone)."""

    ids: list[str]
    groups: list[str]

    def sizes(self) -> dict[str, int]:
        """Messages per group id, for groups of 2 or more."""
        counts: dict[str, int] = {}
        for group in self.groups:
            counts[group] = counts.get(group, 0) + 1
        return {group: n for group, n in counts.items() if n > 1}


def normalise(text: str) -> str:
    """NFKC, casefolded, letters and digits only: spacing, case, punctuation and emoji never tell two texts
    apart, and neither do the mangled quotes of a latin-1 round trip (Kaggle's `I?m` for `I‘m` both give `im`)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def shingles(normalised: str, size: int) -> frozenset[str]:
    """The character `size`-grams of the normalised text with every run of digits as one `0`: a campaign's
    copies differ in a phone number, a prize or a code, not in their template. A text shorter than `size` is its
    one shingle (so "ok" and "oklar" share none); an empty one has none."""
    normalised = DIGIT_RUNS.sub("0", normalised)
    if len(normalised) <= size:
        return frozenset([normalised]) if normalised else frozenset()
    return frozenset(normalised[i : i + size] for i in range(len(normalised) - size + 1))


def similar(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    """Exact Jaccard |a & b| / |a | b| >= threshold (integer counts, one IEEE multiply: the same everywhere)."""
    union = len(a | b)
    return union > 0 and len(a & b) >= threshold * union


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]  # path halving
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the most rows r (fewest false candidates) with bands = num_perm // r such that
    a pair of similarity `threshold` shares a band with probability 1 - (1 - t^r)^bands >= RECALL_AT_THRESHOLD.

    In Decimal (software arithmetic, the same on every CPU) rather than datasketch's own choice, a float
    integral through scipy whose last bits could pick other bands, and so other candidates, elsewhere.
    """
    with localcontext() as context:
        context.prec = 40
        t = Decimal(threshold)
        for rows in range(num_perm, 0, -1):
            bands = num_perm // rows
            if 1 - (1 - t**rows) ** bands >= RECALL_AT_THRESHOLD:
                return bands, rows
    return num_perm, 1


def signatures(keys: Sequence[str], shingle_size: int, num_perm: int) -> np.ndarray:
    """One row of num_perm uint32 MinHash values per normalised text (each non-empty, so with shingles)."""
    from datasketch import MinHash  # only when method is minhash

    rows = np.zeros((len(keys), num_perm), dtype=np.uint32)
    batches = ([s.encode("utf-8") for s in sorted(shingles(key, shingle_size))] for key in keys)
    for i, minhash in enumerate(
        MinHash.generator(batches, num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME, gpu_mode="disable")
    ):
        rows[i] = minhash.hashvalues
    return rows


def lsh_buckets(rows: np.ndarray, bands: int, per_band: int) -> Iterator[np.ndarray]:
    """The indices (ascending) of rows equal in one band of `per_band` values, for each band and bucket of 2+.

    A numpy sort per band instead of datasketch's MinHashLSH, whose dict of sets per band (with the shingle
    sets) took 2.1 GB at 100 k messages; rows compared as bytes, so exact.
    """
    for band in range(bands):
        block = np.ascontiguousarray(rows[:, band * per_band : (band + 1) * per_band])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * per_band))).ravel()
        order = np.argsort(keys, kind="stable")
        starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
            yield order[start:end]


def link_similar(keys: Sequence[str], links: UnionFind, threshold: float, shingle_size: int, num_perm: int) -> None:
    """Union the texts whose shingles' exact Jaccard is >= threshold, among the pairs sharing an LSH bucket.

    A pair already in one group is not checked again, so a bucket of a campaign's copies costs a few checks.
    """
    bands, per_band = lsh_bands(threshold, num_perm)
    rows = signatures(keys, shingle_size, num_perm)
    cache: dict[int, frozenset[str]] = {}

    def shingle_set(i: int) -> frozenset[str]:
        if i not in cache:
            if len(cache) >= 10_000:  # bounded: a shingle set is ~50x its text
                cache.clear()
            cache[i] = shingles(keys[i], shingle_size)
        return cache[i]

    for bucket in lsh_buckets(rows, bands, per_band):
        members = bucket.tolist()
        if len({links.find(i) for i in members}) < 2:
            continue
        for a, x in enumerate(members):
            for y in members[:a]:
                if links.find(x) != links.find(y) and similar(shingle_set(x), shingle_set(y), threshold):
                    links.union(x, y)


def group_near_duplicates(
    ids: Sequence[str],
    texts: Sequence[str],
    method: Method = "minhash",
    threshold: float = 0.5,
    shingle_size: int = 5,
    num_perm: int = 128,
) -> Grouping:
    """Group messages equal once normalised and, with method minhash, those whose shingle sets' exact Jaccard
    similarity is >= threshold (transitively: A~B and B~C put A, B, C together)."""
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
    # One entry per distinct normalised text; a text that normalises to nothing (":)") is never grouped.
    distinct: dict[str, int] = {}
    entry_of = []
    for position, text in enumerate(texts):
        key = normalise(text)
        entry_of.append(distinct.setdefault(key, len(distinct)) if key else -1 - position)
    keys = list(distinct)
    links = UnionFind(len(keys))
    if method == "minhash":
        link_similar(keys, links, threshold, shingle_size, num_perm)
    # Name each component by its smallest message id
    component = [links.find(entry) if entry >= 0 else entry for entry in entry_of]
    smallest: dict[int, str] = {}
    for message_id, root in zip(ids, component, strict=True):
        if root not in smallest or message_id < smallest[root]:
            smallest[root] = message_id
    return Grouping(list(ids), [smallest[root] for root in component])


COUNTS = ("groups", "messages_in_groups", "largest_group", "cross_source_twins")  # prepare's summary: see prepare


def describe_counts(counts: dict | None) -> str:
    """prepare's near-duplicate counts as one sentence, for the explore and HTML reports ("" when absent)."""
    if not counts:
        return ""
    return (
        f"{counts['messages_in_groups']:,} messages are near-duplicates in {counts['groups']:,} groups (largest "
        f"{counts['largest_group']:,}; {counts['cross_source_twins']:,} near-twins across source files), each group "
        "kept inside one split (docs/data.md#near-duplicates)."
    )
