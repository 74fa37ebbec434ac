"""The fast encoder backends (featurize.NAME.backend: onnx | openvino; docs/backends.md): export, quantise, run.

export@NAME turns the transformer's local weights into one file set under data/encoders/NAME, offline:
torch's own ONNX exporter (the graph returns last_hidden_state; pooling stays in encoders.encode, the same
code as the torch backend), then, with quantize int8, onnxruntime's dynamic int8 quantisation (what
sentence-transformers' export_dynamic_quantized_onnx_model runs through optimum), or OpenVINO's converter
and NNCF's static int8 quantisation calibrated on train messages (what its export_static_quantized_openvino_model
runs, on our data instead of GLUE, which is not reachable offline). optimum itself is not used: optimum-onnx
and optimum-intel pin transformers below 5.

`ExportedModel` runs that file set behind the interface encoders.encode uses (`config.hidden_size`, a call
returning `last_hidden_state`), so the torch backend's batching and masked-mean pooling apply unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from stages.common.errors import StageError
from stages.common.model_sources import ModelSource, file_sha256, fingerprint_of, load_pretrained
from stages.common.params import EncoderParams

ENCODERS_DIR = Path("data/encoders")  # export@NAME and distill@NAME write data/encoders/NAME
ONNX_FILE, OPENVINO_FILE = "model.onnx", "model.xml"  # OpenVINO keeps its weights beside, in model.bin
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 17
# A feed-forward block's second MatMul, in the exported node names: BERT-family (not the attention's
# output), BART (fc2)
FFN_DOWN = re.compile(r"(?<!attention)/output/dense/MatMul|/fc2/MatMul")
CALIBRATION_MESSAGES = 300  # sentence-transformers' default calibration size for static int8


def encoder_dir(featurizer: str, root: Path = ENCODERS_DIR) -> Path:
    return Path(root) / featurizer


def export_fingerprint(directory: Path) -> str:
    """One id for an exported model: its files' sha256 (tokenizer and config included)."""
    files = sorted(p for p in Path(directory).iterdir() if p.is_file())
    if not files:
        raise StageError(f"{directory} is empty: run `dvc repro export@{Path(directory).name}`")
    return fingerprint_of({p.name: file_sha256(p) for p in files})


def torch_graph(model, hidden_states: str):
    """The module that is exported: token tensors in, last_hidden_state out (what encode pools)."""
    import torch

    if hidden_states == "encoder" and hasattr(model, "get_encoder"):
        model = model.get_encoder()  # as encoders.load_encoder does

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    return LastHiddenState().eval()


def export_onnx(tokenizer, model, hidden_states: str, output: Path) -> list[str]:
    """Write output/model.onnx (float32) and the tokenizer and config beside it; returns its input names."""
    import torch

    model = model.float().eval()
    example = tokenizer(
        ["a short message", "a longer message, with more words in it"], return_tensors="pt", padding=True
    )
    names = [n for n in INPUTS if n in example and n in tokenizer.model_input_names]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            torch_graph(model, hidden_states),
            tuple(example[n] for n in names),
            str(output / ONNX_FILE),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript, and gives the same graph
        )
    tokenizer.save_pretrained(output)
    model.config.save_pretrained(output)
    return names


def quantize_onnx(output: Path) -> None:
    """model.onnx -> int8 weights, activations quantised at run time (no calibration data)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32, int8 = output / ONNX_FILE, output / "model.int8.onnx"
    # Measured on real MiniLM, mean cosine to torch over the collection's first 200 messages: every MatMul
    # per-tensor (sentence-transformers' avx512_vnni default) 0.946; per-channel 0.990; per-channel with the
    # feed-forward down-projections (the inputs GELU skews) kept in float32 0.994.
    graph = onnx.load(str(fp32)).graph
    skewed = [n.name for n in graph.node if n.op_type == "MatMul" and FFN_DOWN.search(n.name)]
    quantize_dynamic(
        fp32,
        int8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=skewed,
    )
    int8.replace(fp32)


def to_openvino(output: Path, tokenizer_options: dict, names: list[str], calibration: list[str] | None) -> None:
    """model.onnx -> model.xml/.bin; with calibration texts, NNCF static int8 (weights and activations)."""
    import openvino as ov

    model = ov.convert_model(str(output / ONNX_FILE))
    if calibration is not None:
        import nncf
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(output, **tokenizer_options)
        batches = [
            dict(tokenizer(calibration[i : i + 1], return_tensors="np", truncation=True, max_length=128))
            for i in range(len(calibration))
        ]
        feeds = [{n: b[n].astype(np.int64) for n in names} for b in batches]
        # MIXED: asymmetric activations (GELU's outputs are skewed); the default symmetric preset gave a mean
        # cosine of 0.90 to torch on real MiniLM, this one 0.997 (300 train messages calibrating).
        model = nncf.quantize(
            model,
            nncf.Dataset(feeds),
            model_type=nncf.ModelType.TRANSFORMER,
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(feeds),
        )
    ov.save_model(model, str(output / OPENVINO_FILE))
    (output / ONNX_FILE).unlink()


def export_encoder(
    settings: EncoderParams, featurizer: str, source: ModelSource, output: Path, calibration: list[str] | None = None
) -> None:
    """Write settings.backend's model files (quantised as settings.quantize says) into `output`, an
    existing empty directory. `calibration`: the texts openvino int8 calibrates on (needed there only)."""
    # eager attention: the traced graph then holds no shape-specialised SDPA mask code
    tokenizer, model = load_pretrained(settings, featurizer, source, attn_implementation="eager")
    names = export_onnx(tokenizer, model, settings.hidden_states, output)
    if settings.backend == "onnx" and settings.quantize == "int8":
        quantize_onnx(output)
    if settings.backend == "openvino":
        if settings.quantize == "int8" and not calibration:
            raise StageError("openvino int8 needs calibration texts (train messages)")
        to_openvino(output, {"local_files_only": True}, names, calibration if settings.quantize == "int8" else None)


@dataclass
class ExportedModel:
    """An exported encoder behind the interface encoders.encode uses: `config.hidden_size`, and a call on
    token tensors returning an object with `last_hidden_state` (a torch tensor, pooled by encode)."""

    config: object
    run: object  # names -> int64 arrays -> the (batch, tokens, hidden) float32 array
    inputs: tuple[str, ...]

    def __call__(self, **batch):
        import torch

        feed = {name: batch[name].numpy().astype(np.int64) for name in self.inputs}
        return SimpleNamespace(last_hidden_state=torch.from_numpy(np.asarray(self.run(feed))))


def load_exported(directory: Path, backend: str, featurizer: str) -> ExportedModel:
    from transformers import AutoConfig

    directory = Path(directory)
    file = directory / (ONNX_FILE if backend == "onnx" else OPENVINO_FILE)
    if not file.is_file():
        raise StageError(f"no {file.name} in {directory} (backend {backend}): run `dvc repro export@{featurizer}`")
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if backend == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
        names = tuple(i.name for i in session.get_inputs())
        return ExportedModel(config, lambda feed: session.run(["last_hidden_state"], feed)[0], names)
    import openvino as ov

    compiled = ov.Core().compile_model(str(file), "CPU")
    names = tuple(i.any_name for i in compiled.inputs)
    return ExportedModel(config, lambda feed: compiled(feed)[0], names)
