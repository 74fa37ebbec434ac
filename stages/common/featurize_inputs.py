"""What each featurize stage reads, written where dvc.yaml can hand it to that one stage.

Featurizers read different files: an encoder the messages only (so a new split embeds nothing again), bow
and tfidf the split too (they are fitted on train), a concat featurizer also its parts' features. DVC gives
every item of a `foreach` the same deps and cannot interpolate a list into them (treeverse/dvc#8171). So
dvc.yaml's featurize stage runs in featurizers/NAME (its `wdir`) and loads featurizers/NAME/inputs.yaml
through `vars`, which DVC reads relative to wdir: a fixed number of dep slots, the unused ones naming the
inputs file itself. This is the one place that says what goes in them.

`spam sync` (and every `spam repro`) writes the files from params.yaml's `featurize` section, one per
featurizer defined there, so trimming or reordering `featurizers` needs none; featurize refuses a stale one;
tests/test_featurize_inputs.py checks that the committed files are current.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from stages.common.backends import encoder_dir
from stages.common.errors import StageError
from stages.common.io import write_bytes
from stages.common.layout import FEATURIZER_INPUTS_DIR, INPUTS_FILE, SPLIT_FILE, features_dir
from stages.common.params import (
    MAX_CONCAT_PARTS,
    ConcatParams,
    EncoderParams,
    FeaturizerParams,
    Params,
    StaticParams,
)

INPUT_SLOTS = 1 + MAX_CONCAT_PARTS  # the split, then a concat featurizer's parts: dvc.yaml names each slot
VARS_KEY = "featurize_inputs"  # the key dvc.yaml reads: ${featurize_inputs.0} ...
# models.yaml (beside dvc.yaml, which reads it through `vars`): the export@NAME and distill@NAME stages to run
MODELS_FILE, EXPORTS_KEY, DISTILLS_KEY = Path("models.yaml"), "exports", "distills"


def inputs_dir(featurizer: str, root: Path = Path(".")) -> Path:
    return Path(root) / FEATURIZER_INPUTS_DIR / featurizer


def built_model(featurizer: str, settings: FeaturizerParams) -> str | None:
    """The stage that builds featurizer's model into data/encoders/NAME (export or distill), if one does."""
    if isinstance(settings, EncoderParams) and settings.backend != "torch":
        return "export"
    return "distill" if isinstance(settings, StaticParams) else None


def featurize_reads(settings: FeaturizerParams, featurizer: str) -> list[Path]:
    """The pipeline files featurize reads for these settings, besides the messages (which every one reads)."""
    if built_model(featurizer, settings):
        return [encoder_dir(featurizer)]
    if isinstance(settings, EncoderParams):
        return []
    if isinstance(settings, ConcatParams):
        return [SPLIT_FILE, *(features_dir(part) for part in settings.parts)]
    return [SPLIT_FILE]


def inputs_text(featurizer: str, settings: FeaturizerParams) -> str:
    """featurizers/NAME/inputs.yaml: the dep slots, as paths relative to that directory (DVC's wdir)."""
    here = inputs_dir(featurizer)
    deps = [PurePosixPath(os.path.relpath(path, here)).as_posix() for path in featurize_reads(settings, featurizer)]
    slots = deps + [INPUTS_FILE] * (INPUT_SLOTS - len(deps))
    return (
        f"# Written by `spam sync` from params.yaml featurize.{featurizer}: the files featurize@{featurizer} reads\n"
        f"# besides the messages (stages/common/featurize_inputs.py says why this file exists). Do not edit.\n"
        f"{VARS_KEY}: [{', '.join(slots)}]\n"
    )


def built_models(params: Params, featurizers: list[str] | None = None) -> dict[str, list[str]]:
    """models.yaml's lists: {"exports": [...], "distills": [...]}, the featurizers (default: `featurizers`)
    whose model export@NAME or distill@NAME builds."""
    stages = {"export": [], "distill": []}
    for name in params.featurizers if featurizers is None else featurizers:
        if stage := built_model(name, params.featurize[name]):
            stages[stage].append(name)
    return {EXPORTS_KEY: stages["export"], DISTILLS_KEY: stages["distill"]}


def models_text(params: Params) -> str:
    """models.yaml, for dvc.yaml's export and distill stages (a `foreach` over each list)."""
    lists = "".join(f"{key}: [{', '.join(names)}]\n" for key, names in built_models(params).items())
    return (
        "# Written by `spam sync` from params.yaml: the featurizers whose model export@NAME or distill@NAME builds\n"
        "# (stages/common/featurize_inputs.py). Do not edit.\n" + lists
    )


def sync_models(params: Params, root: Path = Path(".")) -> bool:
    """Write models.yaml if it is not current; True if it was written."""
    path = Path(root) / MODELS_FILE
    text = models_text(params)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_bytes(path, text.encode())
    return True


def is_current(featurizer: str, settings: FeaturizerParams, root: Path = Path(".")) -> bool:
    path = inputs_dir(featurizer, root) / INPUTS_FILE
    return path.is_file() and path.read_text(encoding="utf-8") == inputs_text(featurizer, settings)


def stale_inputs(params: Params, root: Path = Path(".")) -> list[str]:
    """The featurizers whose inputs file is missing or differs from what params.yaml gives."""
    return [name for name, settings in params.featurize.items() if not is_current(name, settings, root)]


def sync_inputs(params: Params, root: Path = Path(".")) -> list[str]:
    """Write every featurizer's inputs file that is not current and remove those of featurizers that params.yaml
    no longer defines; returns what changed (featurizer names, a `-` before the removed ones)."""
    changed = []
    sync_models(params, root)
    for name in stale_inputs(params, root):
        write_bytes(inputs_dir(name, root) / INPUTS_FILE, inputs_text(name, params.featurize[name]).encode())
        changed.append(name)
    base = Path(root) / FEATURIZER_INPUTS_DIR
    for directory in sorted(base.iterdir()) if base.is_dir() else []:
        if directory.name not in params.featurize and [p.name for p in directory.iterdir()] == [INPUTS_FILE]:
            shutil.rmtree(directory)
            changed.append(f"-{directory.name}")
    return changed


def check_inputs(params: Params, featurizer: str) -> None:
    """StageError unless featurizer's inputs file is current: DVC would otherwise hash the wrong files."""
    if not is_current(featurizer, params.featurizer(featurizer)):
        path = inputs_dir(featurizer) / INPUTS_FILE
        raise StageError(
            f"{path} does not match params.yaml featurize.{featurizer} (so dvc.yaml's deps for it are wrong): "
            "run `spam sync`, then dvc repro again"
        )
