"""A stage pays at import only for what every run of it uses: heavy libraries wait for the function that
needs them (bench/startup.py times it; this keeps the libraries out)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Each costs a stage 0.4 s or more to import, and none is needed to start these stages (evaluate scores in numpy).
# (pandas, with the pyarrow it imports, stays: most stages read parquet with it on every run.)
HEAVY = ("sklearn", "matplotlib", "torch", "transformers", "dvclive")
LIGHT_STAGES = (
    *("download", "prepare", "split", "featurize", "evaluate", "explore", "compare", "report"),
    *("lessons.cars_prepare", "lessons.cars_train", "lessons.fahrenheit"),
)  # every stage but train, whose job is torch


@pytest.mark.parametrize("stage", LIGHT_STAGES)
def test_a_stage_imports_no_heavy_library(stage: str) -> None:
    probe = f"import sys, json, stages.{stage}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [], f"import stages.{stage} loads {done.stdout.strip()}"
