"""What a stage pays before it does any work: `python -c "import stages.X"` for every stage module in
dvc.yaml, each the median of cold runs (a fresh process each, as DVC starts them), against a bare
`python -c "import numpy"` in the same run, interleaved so that load on the machine hits both alike.
Then a no-op `dvc repro` in the repository root, when `dvc status` says it would be one, and a no-op
`spam repro` (offline it leaves bart and bert out, so `dvc status` is never clean; its no-op is).

It prints and writes nothing DVC tracks. Run from anywhere:
    python bench/startup.py [--repeats 5]
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer
import yaml

ROOT = Path(__file__).resolve().parents[1]
BARE = "numpy"
# The targets (seconds): train imports torch for its work; every other stage should not need to.
TARGET, TARGET_TRAIN = 1.0, 3.5


def stage_modules() -> list[str]:
    """The `python -m` module of each dvc.yaml stage, in file order, once each (matrix stages share one)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    modules = []
    for stage in stages.values():
        words = shlex.split((stage.get("do") or stage)["cmd"])  # a foreach stage keeps it under `do`
        module = words[words.index("-m") + 1]
        if module not in modules:
            modules.append(module)
    return modules


def wall(command: list[str]) -> float:
    """Seconds for one run of `command` in the repository root; fails loudly if the command fails."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - started


def imports(module: str) -> list[str]:
    return [sys.executable, "-c", f"import {module}"]


def dvc() -> list[str]:
    """The dvc installed beside this Python, else `python -m dvc`."""
    script = Path(sys.executable).with_name("dvc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dvc"]


def import_table(repeats: int) -> None:
    modules = stage_modules()
    for name in [BARE, *modules]:  # warm the OS file cache first, so that "cold" means a new process only
        wall(imports(name))
    times: dict[str, list[float]] = {name: [] for name in [BARE, *modules]}
    for _ in range(repeats):
        for name in times:
            times[name].append(wall(imports(name)))
    bare = statistics.median(times[BARE])
    print(f"python -c 'import X', median of {repeats} cold runs each (interleaved):")
    print(f"  {'module':<28} {'seconds':>8} {'x numpy':>8} {'target':>7}")
    for name, runs in times.items():
        seconds = statistics.median(runs)
        target = "" if name == BARE else f"{TARGET_TRAIN if name == 'stages.train' else TARGET:.1f}"
        verdict = "" if not target else ("ok" if seconds <= float(target) else "OVER")
        print(f"  {name:<28} {seconds:8.3f} {seconds / bare:8.2f} {target:>7} {verdict}")


def noop_repro(repeats: int) -> None:
    """Times `dvc repro` only where it has nothing to run: otherwise it would run the pipeline."""
    status = subprocess.run([*dvc(), "status", "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
    waiting = json.loads(status.stdout or "{}")
    seconds = statistics.median(wall([*dvc(), "status"]) for _ in range(repeats))
    print(f"\n`dvc status`, median of {repeats}: {seconds:.3f} s")
    if waiting:
        print(f"no-op `dvc repro`: not timed: {len(waiting)} stages are not up to date (run `spam repro` first)")
        return
    seconds = statistics.median(wall([*dvc(), "repro"]) for _ in range(repeats))
    print(f"no-op `dvc repro`, median of {repeats}: {seconds:.3f} s")


def noop_spam_repro(repeats: int) -> None:
    """Times `spam repro` only once a first run finds nothing to do (it runs what is out of date)."""
    spam = [str(Path(sys.executable).with_name("spam")), "repro"]
    first = subprocess.run(spam, cwd=ROOT, capture_output=True, text=True)
    if first.returncode or "Running stage" in first.stdout:
        print("no-op `spam repro`: not timed: its first run had work to do (or failed); run it again")
        return
    seconds = statistics.median(wall(spam) for _ in range(repeats))
    print(f"no-op `spam repro`, median of {repeats}: {seconds:.3f} s")


def main(repeats: int = typer.Option(5, help="cold runs of each command")) -> None:
    import_table(repeats)
    noop_repro(repeats)
    noop_spam_repro(repeats)


if __name__ == "__main__":
    typer.run(main)
