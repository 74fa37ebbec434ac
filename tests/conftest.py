"""Shared fixtures. Nothing here touches the network: sources are local files or 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "SMSSpamCollection.sample"
VENDORED = ROOT / "data" / "vendor" / "sms_spam" / "SMSSpamCollection"

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (free to bind, or to get connection refused from)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, server: subprocess.Popen, seconds: float) -> None:
    """Until something accepts on 127.0.0.1:port; fails with the server's output if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert server.poll() is None, server.communicate()
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist's `--dist loadgroup` (pyproject.toml): every test that uses the session `project`
    runs on one worker, so it is built once; so do the tests of a module that share a module-scoped fixture
    (test_kill's work directory, the Ray cluster). Every other test goes wherever a worker is free, slow ones
    first, so that the fast ones fill the end of the run instead of one long test starting last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order otherwise
    for item in items:
        fixtures = [d for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
        if "project" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("project"))
        elif any(d.scope == "module" for d in fixtures):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def real_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """A temp working directory holding a copy of the project's params.yaml."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


class NoAliasDumper(yaml.SafeDumper):
    """params.yaml refuses YAML aliases, which PyYAML writes for an object that appears twice."""

    def ignore_aliases(self, data) -> bool:
        return True


def params_yaml(params: dict) -> str:
    return yaml.dump(params, Dumper=NoAliasDumper, sort_keys=False)


def write_params(directory: Path, params: dict) -> None:
    (directory / "params.yaml").write_text(params_yaml(params))


def offline_stand_ins(params: dict, directory: Path) -> dict[str, str]:
    """`featurize.NAME.model` for each `kind: transformer` featurizer in `params` whose model neither is a local
    directory nor has a PyPI copy (stages/common/model_sources.py): a tiny random model of its architecture
    (tests/tiny_models.py), saved under `directory`. So a hub encoder added to params.yaml runs in the offline
    tests with no edit here (docs/extending.md#a-new-hub-encoder)."""
    from stages.common.model_sources import OFFLINE_COPIES
    from tests.tiny_models import save_stand_in

    return {
        f"featurize.{name}.model": str(save_stand_in(settings["model"], directory / name))
        for name in params["featurizers"]
        if (settings := params["featurize"][name])["kind"] == "transformer"
        and not Path(settings["model"]).is_dir()
        and settings["model"] not in OFFLINE_COPIES
    }


# The end-to-end project, built and run once per session: tests/test_pipeline.py and tests/test_app.py share it.
@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """Every featurizer in params.yaml, offline: a tiny random stand-in for each hub encoder (BART, BERT), the
    real MiniLM from its PyPI copy."""
    from tests.sample_project import copy_project

    return copy_project(
        tmp_path_factory.mktemp("project"),
        **offline_stand_ins(real_params(), tmp_path_factory.mktemp("models")),
        **{"featurize.bart.batch_size": 16},  # several batches even on the sample
    )


@pytest.fixture(scope="session")
def first_run(project: Path) -> str:
    from tests.sample_project import run

    return run(project, "dvc", "repro")


@pytest.fixture
def pipeline(project: Path, first_run: str) -> Path:
    """The session project after its first run, for a test that edits params.yaml: afterwards the file is put
    back and `dvc repro` brings the outputs back with it (from DVC's run cache), so no test sees another's edits."""
    from tests.sample_project import run

    before = (project / "params.yaml").read_bytes()
    yield project
    if (project / "params.yaml").read_bytes() != before:
        (project / "params.yaml").write_bytes(before)
        run(project, "dvc", "repro")


@pytest.fixture
def trained(tmp_path, monkeypatch) -> Path:
    """A working directory holding params.yaml and a small trained bow model with its metrics (tiny_trained)."""
    from tests.tiny_trained import make_trained

    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return make_trained(tmp_path)


def tiny_encoder_workdir(directory: Path, featurizers: dict[str, dict], texts: list[str], labels: object) -> Path:
    """`directory` with a tiny random BERT, params for each of `featurizers` (name: extra encoder keys, e.g.
    {"engine": "ray"}) trained like minilm, and data/prepared-like messages.parquet (ids m0000...)."""
    import pandas as pd

    from tests.tiny_models import save_tiny_bert

    model = save_tiny_bert(directory / "tiny-bert")
    params = real_params()
    encoder = {"kind": "transformer", "model": str(model), "dtype": "float32", "batch_size": 8}
    params["featurizers"] = list(featurizers)
    for name, extra in featurizers.items():
        params["featurize"][name] = {**encoder, **extra}
        params["train"][name] = params["train"]["minilm"]
    write_params(directory, params)
    ids = [f"m{i:05d}" for i in range(len(texts))]
    pd.DataFrame({"id": ids, "text": texts, "label": labels}).to_parquet(directory / "messages.parquet")
    return directory


def featurize_process(
    workdir: Path, featurizer: str, cache: str, output: str, chunk: int, **env: str
) -> subprocess.Popen:
    """The featurize stage as its own process (so that a test can kill it), offline, output on stdout."""
    command = [sys.executable, "-m", "stages.featurize", featurizer, "--messages-file", "messages.parquet"]
    command += ["--cache-dir", cache, "--output", output, "--chunk-size", str(chunk)]
    environment = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    environment |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(
        command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    """The process's output once it has ended, which it must do with exit code 0 (timeout: a hang guard)."""
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output
