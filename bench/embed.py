"""Encoding speed: the course's one-message-at-a-time loop against the pipeline's batched `encode`.

fp32 and bf16 batches are timed in turns, block by block (`interleaved`), so their ratio holds on a
shared machine. All runs use the same bert-base-sized model (BertConfig defaults: 12 layers, 768-d, random weights, so
no download is needed; speed does not depend on the weight values) on the same messages, in this
process, with torch limited to --threads threads. Reported as messages/s and as a ratio to the loop.
Also: how far bf16 vectors are from fp32 ones (cosine), and all-MiniLM-L6-v2 through sentence-transformers'
own `encode` against ours, on the real weights (the `minilm` extra).

The speed-up column for the bart-base-sized rows is still against the bert-base loop.

Then the precision modes (featurize.<name>.dtype, docs/internals.md#precision), timed in turns block by block on
all-MiniLM-L6-v2 and the bert-base-sized model: msgs/s for float64 (the default, the same bytes on every CPU),
float32 and bfloat16, each as a ratio to float32, and each one's vectors against float64's (cosine).

Run after `dvc repro` (it reads data/prepared/messages.parquet):
    python bench/embed.py [--messages 512] [--threads 2]

--backends instead measures every featurize backend and quantisation (docs/backends.md), sentence-transformers'
own backends (the peers, through --peers-python) and the static featurizer, each in its own process
(bench/embed_worker.py), and writes bench/results/embed.md and embed.json.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import typer

from stages.common.encoders import cpu_has_amx, encode, load_encoder
from stages.common.model_sources import offline_copy
from stages.common.params import EncoderParams, load_params

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MODES = ("float64", "float32", "bfloat16")  # the default first


def course_loop(encoder, texts: list[str]) -> np.ndarray:
    """The course's way: tokenizer(text) -> model(**inputs) -> last_hidden_state.mean(dim=1), per message."""
    out = []
    with torch.no_grad():
        for text in texts:
            inputs = encoder.tokenizer(text, return_tensors="pt", truncation=True, max_length=128)
            out.append(encoder.model(**inputs).last_hidden_state.mean(dim=1)[0].float().numpy())
    return np.stack(out)


def timed(func, *args) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    result = func(*args)
    return result, time.perf_counter() - started


def interleaved(func, encoders: list, texts: list[str], block: int = 64) -> list[tuple[np.ndarray, float]]:
    """`func(encoder, texts)` for each encoder, timed block by block in turns (first encoder first on even
    blocks, last first on odd ones), so that load from other processes hits every encoder alike: the
    ratio of their speeds holds on a busy machine, where timing one whole pass after the other does not."""
    vectors, seconds = [[] for _ in encoders], [0.0 for _ in encoders]
    for number, start in enumerate(range(0, len(texts), block)):
        turn = range(len(encoders)) if number % 2 == 0 else reversed(range(len(encoders)))
        for i in turn:
            result, elapsed = timed(func, encoders[i], texts[start : start + block])
            vectors[i].append(result)
            seconds[i] += elapsed
    return [(np.concatenate(v), s) for v, s in zip(vectors, seconds, strict=True)]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def precision_modes(title: str, model: str, texts: list[str], batch_size: int) -> None:
    """msgs/s of each dtype in MODES on one model, timed in turns; cosine of each mode's vectors to float64's."""
    settings = dict(kind="transformer", model=model, batch_size=batch_size)
    encoders = [load_encoder(EncoderParams(**settings, dtype=d), "bench") for d in MODES]
    for encoder in encoders:
        encode(encoder, texts[:8])  # warm-up
    results = dict(zip(MODES, interleaved(encode, encoders, texts), strict=True))
    exact, float32_seconds = results["float64"][0], results["float32"][1]
    print(f"{title}, {len(texts)} messages, batches of {batch_size}: precision modes, timed in turns")
    print(f"{'dtype':<10} {'msgs/s':>8} {'vs float32':>11} {'min cosine to float64':>22}")
    for mode, (vectors, seconds) in results.items():
        similarity = cosine(vectors, exact).min()
        print(f"{mode:<10} {len(texts) / seconds:8.1f} {float32_seconds / seconds:10.2f}x {similarity:22.6f}")


OURS = [("torch", "none", "float32"), ("torch", "none", "float64")] + [
    (backend, quantize, "float32") for backend in ("onnx", "openvino") for quantize in ("none", "int8")
]
PEERS = [("torch", "none"), ("onnx", "none"), ("onnx", "int8"), ("openvino", "none")]
RESULTS = Path("bench/results")


def length_mix(count: int) -> list[str]:
    """`count` messages drawn at random (seed 0) from the whole collection: its real length mix."""
    texts = pd.read_parquet("data/prepared/messages.parquet")["text"]
    return texts.sample(min(count, len(texts)), random_state=0).tolist()


def run_worker(python: str, job: dict) -> dict:
    import subprocess
    import sys

    done = subprocess.run(
        [python, "bench/embed_worker.py", json.dumps(job)],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": "."},
    )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return {"error": done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def backend_rows(title: str, model: str, texts: list[str], work: Path, peers_python: str | None, static: Path | None):
    """Every mode on `model`, each in its own process, one after the other on the same texts."""
    from stages.common.backends import export_encoder
    from stages.common.model_sources import resolve_model

    (work / "texts.json").write_text(json.dumps(texts))
    base = dict(texts=str(work / "texts.json"), model=model, batch_size=64, threads=torch.get_num_threads())
    jobs = []
    for backend, quantize, dtype in OURS:
        exported = None
        if backend != "torch":
            exported = work / f"{backend}-{quantize}"
            params = EncoderParams(kind="transformer", model=model, dtype="float32", backend=backend, quantize=quantize)
            exported.mkdir()
            calibration = length_mix(2000)[-300:]  # not the timed messages' order; the stage uses train ones
            export_encoder(params, "bench", resolve_model(params, "bench"), exported, calibration)
        name = f"ours {backend}" + (f" {quantize}" if quantize != "none" else "") + f" {dtype}"
        job = dict(base, kind="ours", backend=backend, quantize=quantize, dtype=dtype, exported=str(exported or ""))
        jobs.append((name, ".venv/bin/python", job))
    for backend, quantize in PEERS:
        name = f"sentence-transformers {backend}" + (" qint8" if quantize == "int8" else "")
        jobs.append((name, peers_python, dict(base, kind="peer", backend=backend, quantize=quantize)))
    if static is not None:
        jobs.append(("static (model2vec, distilled)", ".venv/bin/python", dict(base, kind="static", model=str(static))))
    rows = []
    for number, (name, python, job) in enumerate(jobs):
        if python is None:
            rows.append({"mode": name, "error": "no --peers-python given"})
            continue
        out = work / f"{number}.npy"
        result = run_worker(python, dict(job, out=str(out)))
        row = {"mode": name, **result}
        if "seconds" in result:
            row["msgs_per_s"] = len(texts) / result["seconds"]
            row["vectors"] = out
        rows.append(row)
        print(f"{title}: {name}: {row.get('msgs_per_s', 0):.1f} msgs/s {row.get('error', '')}", flush=True)
    reference = np.load(rows[0]["vectors"])  # ours, torch float32
    for row in rows:
        vectors = np.load(row.pop("vectors")) if "vectors" in row else None
        if vectors is not None and vectors.shape == reference.shape:
            row["mean_cosine_to_torch_fp32"] = float(cosine(vectors, reference).mean())
        if "msgs_per_s" in row:
            row["vs_torch_fp32"] = row["msgs_per_s"] / rows[0]["msgs_per_s"]
    return rows


def backends(messages: int, bert_messages: int, peers_python: str | None) -> None:
    """bench/results/embed.md and .json: every backend, ours and the peers', and the static model."""
    import platform

    from stages.common.backends import encoder_dir

    texts = length_mix(messages)
    static = encoder_dir("minilm_static") if (encoder_dir("minilm_static") / "model.safetensors").is_file() else None
    results = {"messages": len(texts), "bert_messages": bert_messages, "threads": torch.get_num_threads()}
    results["machine"] = f"{platform.machine()}, {torch.backends.cpu.get_cpu_capability()}, shared and busy"
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        (work / "minilm").mkdir()
        results["all-MiniLM-L6-v2"] = backend_rows(
            "MiniLM", str(offline_copy(MINILM)), texts, work / "minilm", peers_python, static
        )
        from transformers import BertConfig, BertModel, BertTokenizerFast

        bert = work / "bert-base"
        torch.manual_seed(0)
        BertModel(BertConfig()).save_pretrained(bert)  # bert-base shape, random weights
        BertTokenizerFast.from_pretrained(offline_copy(MINILM)).save_pretrained(bert)
        (work / "bert").mkdir()
        results["bert-base (random weights)"] = backend_rows(
            "bert-base", str(bert), texts[:bert_messages], work / "bert", peers_python, None
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embed.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "embed.md").write_text(backends_markdown(results))
    print((RESULTS / "embed.md").read_text())


def backends_markdown(results: dict) -> str:
    lines = [
        "# Encoder backends: one run, the same messages, each mode in its own process",
        "",
        f"Written by `python bench/embed.py --backends` ({results['machine']}, {results['threads']} threads).",
        f"{results['messages']} messages drawn at random from the collection (its length mix); "
        f"bert-base: the first {results['bert_messages']} of them. Modes ran one after another on a shared "
        "machine: compare ratios within one table, not across runs. Cosine: mean over the messages, to our "
        "torch float32 vectors (the static model's vectors live in another space: none).",
    ]
    for model in ("all-MiniLM-L6-v2", "bert-base (random weights)"):
        lines += [
            "",
            f"## {model}",
            "",
            "| mode | msgs/s | vs torch fp32 | mean cosine | peak RSS MB |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in results[model]:
            if "error" in row:
                lines.append(f"| {row['mode']} | error: {row['error']} | | | |")
                continue
            similarity = f"{row['mean_cosine_to_torch_fp32']:.4f}" if "mean_cosine_to_torch_fp32" in row else "-"
            lines.append(
                f"| {row['mode']} | {row['msgs_per_s']:.1f} | {row['vs_torch_fp32']:.2f}x | {similarity} | "
                f"{row['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(
    messages: int = typer.Option(512, help="how many messages (the first N of the prepared data)"),
    threads: int = typer.Option(2, help="torch CPU threads"),
    backends_only: bool = typer.Option(
        False, "--backends", help="only the backends table (bench/results/embed.md and .json)"
    ),
    bert_messages: int = typer.Option(100, help="--backends: messages for the bert-base-sized model"),
    peers_python: str = typer.Option(
        None, help="--backends: a python with sentence-transformers[onnx,openvino] (transformers < 5) for the peers"
    ),
) -> None:
    torch.set_num_threads(threads)
    if backends_only:
        backends(messages, bert_messages, peers_python)
        return
    texts = pd.read_parquet("data/prepared/messages.parquet")["text"].head(messages).tolist()
    from transformers import BartConfig, BartModel, BertConfig, BertModel, BertTokenizerFast

    with tempfile.TemporaryDirectory() as directory:
        torch.manual_seed(0)
        BertModel(BertConfig()).save_pretrained(directory)  # bert-base shape, random weights
        tokenizer_source = offline_copy(MINILM)  # a real uncased WordPiece vocab (same as bert-base-uncased)
        BertTokenizerFast.from_pretrained(tokenizer_source).save_pretrained(directory)
        precision_modes("bert-base-sized encoder", directory, texts, batch_size=64)
        setting = dict(kind="transformer", model=directory, batch_size=64)
        fp32 = load_encoder(EncoderParams(**setting, dtype="float32"), "bench")
        bf16 = load_encoder(EncoderParams(**setting, dtype="bfloat16"), "bench")
        encode(fp32, texts[:8]), encode(bf16, texts[:8])  # warm-up
        _, loop_seconds = timed(course_loop, fp32, texts)
        (batched32, batched32_seconds), (batched16, batched16_seconds) = interleaved(encode, [fp32, bf16], texts)

        # bart-base shape (6+6 layers, 768-d): the full model's states vs the encoder's only, bf16 batches.
        torch.manual_seed(0)
        bart = BartConfig(
            d_model=768,
            encoder_layers=6,
            decoder_layers=6,
            encoder_attention_heads=12,
            decoder_attention_heads=12,
            encoder_ffn_dim=3072,
            decoder_ffn_dim=3072,
            vocab_size=30522,
            pad_token_id=0,
        )  # the BERT vocab stands in for BART's BPE
        BartModel(bart).save_pretrained(directory)
        bart_seconds = {}
        for states in ("full", "encoder"):
            encoder = load_encoder(EncoderParams(**setting, dtype="bfloat16", hidden_states=states), "bench")
            encode(encoder, texts[:8])
            bart_seconds[states] = timed(encode, encoder, texts)[1]

    rows = [
        ("per-message loop, fp32 (course)", loop_seconds),
        ("length-sorted batches of 64, fp32", batched32_seconds),
        ("length-sorted batches of 64, bf16", batched16_seconds),
    ]
    print(f"bert-base-sized encoder, {len(texts)} messages, {threads} threads, {torch.__version__}")
    amx = "yes" if cpu_has_amx() else "no"
    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}, AMX {amx} (dtype auto picks bf16 only with AMX)")
    rows += [(f"bart-base-sized, bf16, {states} states", seconds) for states, seconds in bart_seconds.items()]
    print(f"{'method':<38} {'msgs/s':>8} {'speed-up':>9}")
    for name, seconds in rows:
        print(f"{name:<38} {len(texts) / seconds:8.1f} {loop_seconds / seconds:8.2f}x")
    similarity = cosine(batched16, batched32)
    print(f"cosine(bf16, fp32) over {len(texts)} messages: min {similarity.min():.5f}, mean {similarity.mean():.5f}")

    minilm_batch = load_params().featurizer("minilm").batch_size  # what the pipeline runs
    for batch_size in sorted({minilm_batch, 64}):
        precision_modes("all-MiniLM-L6-v2", str(offline_copy(MINILM)), texts, batch_size)

    from sentence_transformers import SentenceTransformer

    ours = load_encoder(EncoderParams(kind="transformer", model=str(offline_copy(MINILM)), dtype="float32"), "minilm")
    library = SentenceTransformer(str(offline_copy(MINILM)), device="cpu")
    library.max_seq_length = 128
    encode(ours, texts[:8]), library.encode(texts[:8])
    ours_vectors, ours_seconds = timed(encode, ours, texts)
    library_vectors, library_seconds = timed(
        lambda t: library.encode(t, batch_size=64, normalize_embeddings=False), texts
    )
    agreement = cosine(ours_vectors, library_vectors).min()
    print(
        f"all-MiniLM-L6-v2 fp32: ours {len(texts) / ours_seconds:.1f} msgs/s, sentence-transformers "
        f"{len(texts) / library_seconds:.1f} msgs/s; cosine(ours, library) min {agreement:.6f}"
    )
    metrics = Path("reports/metrics/minilm.json")
    if metrics.exists():
        test = json.loads(metrics.read_text())["test"]
        print(f"minilm neuron (pipeline, test): MCC {test['mcc']:.4f}, F1 {test['f1']:.4f}")


if __name__ == "__main__":
    typer.run(main)
