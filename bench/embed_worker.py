"""One timed encoder run for bench/embed.py --backends, in its own process (so that its peak RSS is its own).

Reads a JSON job from argv[1]: what to load (ours with a backend, a sentence-transformers backend, the static
model), the texts file and where to write the vectors (.npy). Prints one JSON line: seconds, peak RSS.
Runs in the project's .venv (ours, static) or in a venv with sentence-transformers' onnx and openvino
extras (the peers: optimum-onnx and optimum-intel need transformers < 5, which this project cannot use).
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WARM_UP = 16


def ours(job: dict):
    from stages.common.encoders import encode, load_encoder
    from stages.common.params import EncoderParams

    params = EncoderParams(
        kind="transformer",
        model=job["model"],
        dtype=job["dtype"],
        backend=job["backend"],
        quantize=job["quantize"],
        batch_size=job["batch_size"],
    )
    encoder = load_encoder(params, "bench", exported=Path(job["exported"]) if job.get("exported") else None)
    return lambda texts: encode(encoder, texts)


def static(job: dict):
    from stages.common.static_encoder import load_static

    return load_static(Path(job["model"]))


def peer(job: dict):
    from sentence_transformers import SentenceTransformer

    copy = Path(tempfile.mkdtemp()) / "model"  # sentence-transformers writes its exports beside the model
    shutil.copytree(job["model"], copy)
    backend, quantized = job["backend"], job["quantize"] == "int8"
    model = SentenceTransformer(str(copy), device="cpu", backend=backend)
    if quantized:  # the docs' recipe: export, then load the quantised file
        from sentence_transformers import export_dynamic_quantized_onnx_model

        export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(copy))
        kwargs = {"file_name": "onnx/model_qint8_avx512_vnni.onnx"}
        model = SentenceTransformer(str(copy), device="cpu", backend=backend, model_kwargs=kwargs)
    model.max_seq_length = 128
    size = job["batch_size"]
    return lambda texts: model.encode(texts, batch_size=size, normalize_embeddings=False, convert_to_numpy=True)


def main() -> None:
    job = json.loads(sys.argv[1])
    if job["kind"] == "ours":
        import torch

        torch.set_num_threads(job["threads"])
    texts = json.loads(Path(job["texts"]).read_text())
    encode = {"ours": ours, "static": static, "peer": peer}[job["kind"]](job)
    encode(texts[:WARM_UP])
    started = time.perf_counter()
    vectors = np.asarray(encode(texts), dtype=np.float32)
    seconds = time.perf_counter() - started
    np.save(job["out"], vectors)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): getrusage's ru_maxrss keeps the forking parent's peak across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: an upper bound


if __name__ == "__main__":
    main()
