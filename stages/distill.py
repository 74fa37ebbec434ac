"""Distil a static featurizer (featurize.NAME.kind: static, docs/backends.md#static) from a transformer.

One stage per static featurizer (distill@NAME, listed in featurizers/models.yaml by `spam sync`): model2vec
runs the transformer once on each token of its vocabulary, reduces the vectors with PCA and weights them
(SIF), and saves the table in data/encoders/NAME. Offline, from the model's local copy; no messages needed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from stages.common.backends import encoder_dir
from stages.common.cli import FeaturizerArg, reports_errors, stage_app, stage_featurizer
from stages.common.errors import StageError
from stages.common.io import atomic_dir
from stages.common.model_sources import load_pretrained, resolve_model
from stages.common.params import StaticParams, load_params

app = stage_app(__doc__)


@app.command()
@reports_errors
def main(
    featurizer: FeaturizerArg = None,
    output: Path = typer.Option(None, help="default: data/encoders/FEATURIZER"),
) -> None:
    """Distil FEATURIZER's static model (params: featurize.FEATURIZER)."""
    import torch
    from model2vec.distill import distill_from_model

    featurizer = stage_featurizer(featurizer)
    settings = load_params().featurizer(featurizer)
    if not isinstance(settings, StaticParams):
        raise StageError(f"featurize.{featurizer} is not kind: static; nothing to distil")
    source = resolve_model(settings, featurizer)
    tokenizer, model = load_pretrained(settings, featurizer, source)
    torch.manual_seed(0)
    static = distill_from_model(model, tokenizer, device="cpu", pca_dims=settings.pca_dims)
    with atomic_dir(output or encoder_dir(featurizer)) as tmp:
        static.save_pretrained(str(tmp))
    typer.echo(f"wrote {output or encoder_dir(featurizer)}: {static.dim}-d static vectors from {source.location}")


if __name__ == "__main__":
    app()
