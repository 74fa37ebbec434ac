"""Static embeddings (featurize.NAME.kind: static; docs/backends.md#static): a model2vec model, one vector
per token, averaged. Neither torch nor transformers is imported here: `spam predict` with a static
featurizer starts without them (tests/test_static.py checks it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from stages.common.errors import StageError
from stages.common.precision import EMBEDDING_ROUNDING, round_to_bits

WEIGHTS_FILE = "model.safetensors"  # what model2vec's save_pretrained writes the token vectors to


def static_cache_key(directory: Path) -> str:
    """Everything a static featurizer's vectors depend on besides the text: the distilled weights and the rounding."""
    return f"static|{static_fingerprint(directory)}|{EMBEDDING_ROUNDING}"


def static_fingerprint(directory: Path) -> str:
    """The distilled model's id (the embedding cache's key): its weights' sha256."""
    from stages.common.model_sources import file_sha256

    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise StageError(f"no {WEIGHTS_FILE} in {directory}: run `dvc repro distill@{Path(directory).name}`")
    return f"sha256:{file_sha256(weights)}"


def load_static(directory: Path) -> Callable[[list[str]], np.ndarray]:
    """texts -> vectors, one per text, in order, rounded as every embedding is (stages/common/precision.py):
    model2vec averages float32 token vectors, whose last bits depend on the CPU's summation order."""
    from model2vec import StaticModel

    static_fingerprint(directory)  # a clear error when the model is missing
    model = StaticModel.from_pretrained(str(directory))
    # One process: model2vec forks a pool above 10,000 texts; the vectors are the same either way.
    return lambda texts: round_to_bits(model.encode(list(texts), use_multiprocessing=False))


def static_dims(directory: Path) -> int:
    from safetensors import safe_open

    static_fingerprint(directory)
    with safe_open(str(Path(directory) / WEIGHTS_FILE), framework="numpy") as weights:
        return int(weights.get_slice(weights.keys()[0]).get_shape()[1])
