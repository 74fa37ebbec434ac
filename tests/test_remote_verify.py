"""The default DVC remote verifies what it pulls (issue 24)."""

from __future__ import annotations

from dvc.config import Config

from tests.conftest import ROOT


def test_the_default_remote_verifies_on_pull():
    """Without verify, a flipped bit in a remote object was pulled, restored and trusted: `dvc status` said up
    to date and `spam repro` ran nothing. Read through DVC's own config schema, as `dvc pull` reads it."""
    config = Config(dvc_dir=str(ROOT / ".dvc"))
    default = config["core"]["remote"]
    assert default == "local" and config["remote"][default].get("verify") is True
