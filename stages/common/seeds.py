"""Verdicts over several split seeds: which differences between featurizers hold on every seed.

`python bench/seeds.py` runs the pipeline once per split seed (DVC's experiment queue) and writes
reports/seeds.json. The compare stage and the README quote it through `seed_verdicts`, and say when it no
longer matches this run (params or code changed since): the table is then stale until the bench reruns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.common.comparison import markdown_table
from stages.common.io import read_json

SAME_RUN_TOLERANCE = 5e-7  # metrics files round to 6 decimals


@dataclass(frozen=True)
class SeedVerdicts:
    seeds: list[int]
    summary: dict[str, dict[str, dict[str, float]]]  # featurizer -> metric -> {"mean", "sd"}
    pairs: dict[str, dict]  # "new - old (metric)" -> {"mean", "sd", "same_sign", "holds"}
    stale: list[str]  # featurizers whose test MCC on this run's split seed differs from the seeds run
    not_run: list[str]  # featurizers of this run that the seeds run did not cover


def seed_verdicts(seeds_run: dict, test_mcc: dict[str, float], split_seed: int) -> SeedVerdicts:
    """Compare a seeds.json (as bench/seeds.py writes it) with this run's test MCC per featurizer."""
    on_this_split = seeds_run["per_seed"].get(str(split_seed), {})  # JSON object keys are strings
    stale = [
        name
        for name, mcc in test_mcc.items()
        if name in on_this_split and abs(on_this_split[name]["mcc"] - mcc) > SAME_RUN_TOLERANCE
    ]
    if not on_this_split:  # this run's seed is not among the seeds: nothing to check the table against
        stale = [name for name in test_mcc if name in seeds_run["summary"]]
    return SeedVerdicts(
        seeds=[int(seed) for seed in seeds_run["seeds"]],
        summary=seeds_run["summary"],
        pairs=seeds_run["pairs"],
        stale=stale,
        not_run=[name for name in test_mcc if name not in seeds_run["summary"]],
    )


def read_seed_verdicts(path: Path, test_mcc: dict[str, float], split_seed: int) -> SeedVerdicts | None:
    return seed_verdicts(read_json(path), test_mcc, split_seed) if path.exists() else None


def seeds_markdown(verdicts: SeedVerdicts | None, heading: str = "## Across split seeds") -> str:
    """The mean ± sd table and the differences that hold on every seed, with a warning when stale."""
    lines = [heading, ""]
    if verdicts is None:
        return "\n".join([*lines, "No seeds run yet: `python bench/seeds.py` (about 45 minutes on 2 cores).", ""])
    n = len(verdicts.seeds)
    lines += [
        f"Split seeds {', '.join(map(str, verdicts.seeds))}: the whole pipeline once per seed "
        "(`python bench/seeds.py`, DVC's experiment queue; reports/seeds.json).",
        "",
    ]
    if verdicts.stale:
        lines += [
            f"**Stale:** on this run's split seed, the test MCC of {', '.join(verdicts.stale)} differs from the "
            "seeds run (params or code changed since): rerun `python bench/seeds.py`.",
            "",
        ]
    rows = [
        [name, f"{row['mcc']['mean']:.4f} ± {row['mcc']['sd']:.4f}", f"{row['f1']['mean']:.4f} ± {row['f1']['sd']:.4f}"]
        for name, row in verdicts.summary.items()
    ]
    lines += [markdown_table(["featurizer", "test MCC mean ± sd", "test F1 mean ± sd"], rows), ""]
    if verdicts.not_run:
        lines += [f"Not in the seeds run: {', '.join(verdicts.not_run)}.", ""]
    held = [label for label, pair in verdicts.pairs.items() if pair["holds"]]
    not_held = [
        f"{label} ({pair['mean']:+.4f} ± {pair['sd']:.4f}, same sign on {pair['same_sign']}/{n})"
        for label, pair in verdicts.pairs.items()
        if not pair["holds"]
    ]
    lines += [
        f"A difference **holds** when it has the same sign on all {n} seeds and its mean ± sd excludes 0.",
        "",
        f"- Hold: {'; '.join(held) if held else 'none'}.",
        f"- Do not hold: {'; '.join(not_held) if not_held else 'none'}.",
        "",
    ]
    return "\n".join(lines)
