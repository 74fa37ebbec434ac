"""Shared fixtures. Nothing here touches the network: sources are local files or 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "SMSSpamCollection.sample"
VENDORED = ROOT / "data" / "vendor" / "sms_spam" / "SMSSpamCollection"

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def real_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """A temp working directory holding a copy of the project's params.yaml."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_params(directory: Path, params: dict) -> None:
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
