"""The README's figures come from the run: its generated blocks must equal what reports/ says now."""

from __future__ import annotations

import json
import shutil

from bench import readme_tables
from tests.conftest import ROOT


def test_generated_blocks_in_readme_and_docs_agree_with_reports():
    names = [m["name"] for m in readme_tables.BLOCK.finditer((ROOT / "README.md").read_text())]
    assert {"results", "data"} <= set(names), names
    for path in readme_tables.documents():
        text = path.read_text()
        names += [m["name"] for m in readme_tables.BLOCK.finditer(text)]
        assert readme_tables.stale_blocks(text, ROOT) == [], path
    assert set(readme_tables.GENERATORS) <= set(names), names  # every generator's block is shown somewhere


def test_a_changed_report_makes_the_readme_stale(tmp_path):
    """Edit one number in a copy of reports/compare.json: the results block no longer agrees."""
    for name in ("reports/compare.json", "data/prepared/summary.json", "params.yaml", "dvc.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    compare = json.loads((tmp_path / "reports/compare.json").read_text())
    first = next(iter(compare["featurizers"]))
    compare["featurizers"][first]["mcc"] -= 0.01
    (tmp_path / "reports/compare.json").write_text(json.dumps(compare))
    readme = (ROOT / "README.md").read_text()
    results = next(m for m in readme_tables.BLOCK.finditer(readme) if m["name"] == "results")
    only_results = readme[results.start() : results.end()]
    assert readme_tables.stale_blocks(only_results, tmp_path) == ["results"]
    assert readme_tables.stale_blocks(readme_tables.render(only_results, tmp_path), tmp_path) == []


def test_readme_test_command_is_the_ci_entry_point():
    """The README's test command is `bash .ci/run`, which installs chromium: no browser test skips there."""
    readme = (ROOT / "README.md").read_text()
    assert "bash .ci/run" in readme and "apt-get install" in (ROOT / ".ci" / "run").read_text()
    assert "dvc_plots/" in (ROOT / ".gitignore").read_text().split()
