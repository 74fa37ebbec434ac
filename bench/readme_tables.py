"""Rewrite the generated blocks of README.md and docs/*.md from what the pipeline wrote, or check them.

Each block sits between `<!-- generated: NAME -->` and `<!-- /generated -->` and is made only from committed
outputs (reports/compare.json, reports/seeds.json, data/prepared/summary.json) and `dvc metrics show`, so a
documented number can never drift from the run: tests/test_readme_tables.py fails when they disagree.

    python bench/readme_tables.py           # rewrite the blocks after `spam repro`
    python bench/readme_tables.py --check   # exit 1 and name the stale blocks
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import typer
import yaml

from stages.common.comparison import markdown_table
from stages.common.io import read_json, write_bytes
from stages.common.layout import SEEDS_JSON
from stages.common.seeds import read_seed_verdicts, seeds_markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md: the files whose generated blocks this script owns."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.DOTALL)


def results(root: Path) -> str:
    """The featurizers' test metrics, in params.yaml's order, from the compare stage."""
    report = read_json(root / "reports" / "compare.json")
    header = ["featurizer", "F1", "F1 95 % CI", "MCC", "MCC 95 % CI", "precision", "recall", "ROC-AUC"]
    rows = []
    for name, m in report["featurizers"].items():
        f1_low, f1_high = m["f1_ci95"]
        mcc_low, mcc_high = m["mcc_ci95"]
        rows.append(
            [f"**{name}**", f"{m['f1']:.4f}", f"{f1_low:.3f}–{f1_high:.3f}", f"{m['mcc']:.4f}",
             f"{mcc_low:.3f}–{mcc_high:.3f}", f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['roc_auc']:.4f}"]
        )  # fmt: skip
    caption = (
        f"Test split: {report['test_messages']:,} messages ({report['test_spam']} spam); intervals: 95 % "
        f"bootstrap over {report['resamples']:,} resamples (`reports/compare.json`)."
    )
    return f"{caption}\n\n{markdown_table(header, rows)}\n"


def data(root: Path) -> str:
    """What prepare did to the raw collection (data/prepared/summary.json)."""
    s = read_json(root / "data" / "prepared" / "summary.json")
    return (
        f"{s['lines']:,} lines read, {s['bad_lines']} bad; HTML entities (`&lt;#&gt;`, `&amp;`, …) decoded in "
        f"{s.get('html_entities_decoded', 0):,} lines; {s['duplicates_dropped']:,} exact duplicates dropped: "
        f"**{s['messages']:,} messages, {s['ham']:,} ham and {s['spam']:,} spam**.\n"
    )


def metrics_show(root: Path) -> str:
    """`dvc metrics show` as it prints in this checkout (the workspace's reports/metrics/*.json)."""
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "show"], cwd=root, capture_output=True, text=True, check=True
    )
    lines = [line.rstrip() for line in done.stdout.splitlines()]
    return "```text\n$ dvc metrics show\n" + "\n".join(lines) + "\n```\n"


def seeds(root: Path) -> str:
    """bench/seeds.py's mean ± sd and the differences that hold on every seed (reports/seeds.json), marked
    stale when this checkout's test MCC on its split seed differs from the seeds run's."""
    split_seed = yaml.safe_load((root / "params.yaml").read_text())["split"]["seed"]
    test_mcc = {path.stem: read_json(path)["test"]["mcc"] for path in sorted((root / "reports/metrics").glob("*.json"))}
    return seeds_markdown(
        read_seed_verdicts(root / SEEDS_JSON, test_mcc, split_seed), heading="#### Across split seeds"
    )


def calibration(root: Path) -> str:
    """Test Brier and ECE before and after each featurizer's calibration (reports/compare.json)."""
    report = read_json(root / "reports" / "compare.json")
    header = ["featurizer", "calibration", "Brier", "ECE before (raw sigmoid)", "ECE after"]
    rows = [
        [name, m["calibration"], f"{m['brier']:.4f}", f"{m['ece_uncalibrated']:.4f}", f"{m['ece']:.4f}"]
        for name, m in report["featurizers"].items()
    ]
    return f"Test split, from `reports/compare.json` (the compare stage):\n\n{markdown_table(header, rows)}\n"


GENERATORS: dict[str, Callable[[Path], str]] = {
    "results": results,
    "calibration": calibration,
    "data": data,
    "metrics-show": metrics_show,
    "seeds": seeds,
}


def render(readme: str, root: Path) -> str:
    """The README with every generated block rebuilt; an unknown block name is an error."""

    def rebuild(match: re.Match) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise ValueError(f"README block {name!r} has no generator (known: {', '.join(GENERATORS)})")
        return match.group(1) + GENERATORS[name](root) + match.group(4)

    return BLOCK.sub(rebuild, readme)


def stale_blocks(readme: str, root: Path) -> list[str]:
    """Names of the blocks whose text differs from what the outputs say now."""
    fresh = {m["name"]: m["body"] for m in BLOCK.finditer(render(readme, root))}
    return [m["name"] for m in BLOCK.finditer(readme) if fresh[m["name"]] != m["body"]]


def main(check: bool = typer.Option(False, "--check", help="change nothing; exit 1 if a block is stale")) -> None:
    """Rewrite (or --check) the generated blocks of README.md and docs/*.md from reports/ and
    data/prepared/summary.json."""
    stale = []
    for path in documents():
        text = path.read_text()
        if not BLOCK.search(text):
            continue
        if check:
            stale += [f"{path.relative_to(ROOT)}: {name}" for name in stale_blocks(text, ROOT)]
            continue
        write_bytes(path, render(text, ROOT).encode())
        typer.echo(f"rewrote {len(BLOCK.findall(text))} generated blocks in {path.relative_to(ROOT)}")
    if stale:
        typer.echo(f"error: blocks out of date: {'; '.join(stale)}; run python bench/readme_tables.py")
        raise typer.Exit(1)
    if check:
        typer.echo("README.md and docs/ agree with reports/")


if __name__ == "__main__":
    typer.run(main)
