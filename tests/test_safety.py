"""Safety: no pickle anywhere in the code, and model directories never get to run their own code."""

from __future__ import annotations

import json
import re

from stages.common.encoders import load_encoder
from stages.common.errors import StageError
from stages.common.params import EncoderParams
from tests.conftest import ROOT
from tests.tiny_models import save_tiny_bert

CODE = [p for folder in ("stages", "bench") for p in (ROOT / folder).rglob("*.py")]


def test_code_never_pickles():
    assert len(CODE) > 10
    for path in CODE:
        source = path.read_text()
        for pattern in (
            r"\bimport pickle\b",
            r"\bfrom pickle\b",
            r"\bjoblib\b",
            r"\bcloudpickle\b",
            r"allow_pickle=True",
        ):
            assert not re.search(pattern, source), f"{path.relative_to(ROOT)} uses {pattern}"
        for call in re.findall(r"torch\.load\([^)]*\)", source):  # only ever with weights_only=True
            assert "weights_only=True" in call, f"{path.relative_to(ROOT)}: {call}"


def test_remote_code_stays_off_in_the_code():
    for path in CODE:
        assert not re.search(r"trust_remote_code\s*=\s*True", path.read_text()), path


def test_model_directory_code_is_never_executed(tmp_path):
    """A model directory that asks (auto_map) for its own Python class: loaded as plain BERT or refused."""
    directory = save_tiny_bert(tmp_path / "model")
    marker = tmp_path / "pwned"
    (directory / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertModel\nclass EvilModel(BertModel):\n    pass\n"
    )
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "evil.EvilModel", "AutoConfig": "evil.EvilConfig"}
    (directory / "config.json").write_text(json.dumps(config))
    params = EncoderParams(kind="transformer", model=str(directory), dtype="float32")
    try:
        encoder = load_encoder(params, "tiny")
    except StageError:
        pass  # refusing is fine too
    else:
        assert type(encoder.model).__name__ == "BertModel"
    assert not marker.exists(), "code from the model directory ran"


def test_neuron_is_saved_as_safetensors_not_pickle(tmp_path):
    """save_neuron writes a safetensors file (an 8-byte header length, then JSON): never torch.save's zip of
    pickles. The JSON card beside it is written by the train stage; tests/test_pipeline.py checks every file the
    pipeline writes for pickle."""
    import struct

    import numpy as np
    from safetensors import safe_open

    from stages.common.neuron import Neuron, load_neuron, save_neuron
    from stages.common.standardise import Standardiser

    neuron = Neuron(np.array([0.5, -1.0, 2.0]), 0.25, Standardiser(np.zeros(3, np.float32), np.ones(3, np.float32)))
    save_neuron(tmp_path, neuron)
    (written,) = list(tmp_path.iterdir())
    raw = written.read_bytes()
    (header_length,) = struct.unpack("<Q", raw[:8])
    assert raw[8:9] == b"{" and raw[8 + header_length - 1 : 8 + header_length].rstrip() in (b"}", b"")
    with safe_open(written, framework="numpy") as weights:
        assert set(weights.keys()) == {"weight", "bias", "mean", "std"}
    loaded = load_neuron(tmp_path, "toy", 3)
    assert np.array_equal(loaded.weight, neuron.weight) and np.array_equal(loaded.scale.std, np.ones(3))
