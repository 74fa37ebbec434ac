"""The `spam` command: run the pipeline, and use what it trained.

Examples:

    spam repro    # dvc repro, leaving out encoders whose model cannot be loaded here (it says which)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from stages.common.cli import StageError, reports_errors
from stages.common.params import EncoderParams, Params, load_params

PARAMS_FILE = Path("params.yaml")
DVC = [sys.executable, "-m", "dvc"]  # the dvc installed beside this package, activated or not
app = typer.Typer(
    help=__doc__,
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def unavailable_encoders(params: Params) -> list[str]:
    """Featurizers whose model is neither local, nor cached, nor reachable on the hub (checked once)."""
    from stages.common.encoders import hub_reachable, model_available

    dense = {name: params.featurize[name] for name in params.featurizers}
    dense = {name: p for name, p in dense.items() if isinstance(p, EncoderParams)}
    offline = [name for name, p in dense.items() if not model_available(p, hub=False)]
    if offline and hub_reachable():
        return []
    return offline


def featurizers_override(featurizers: list[str]) -> str:
    return f"featurizers=[{','.join(featurizers)}]"


@app.callback()
def spam() -> None:
    """Train and use single-neuron SMS spam classifiers."""


@app.command()
@reports_errors
def repro() -> None:
    """Run the whole pipeline (`dvc repro`). Example: spam repro

    Encoders whose model is neither a local directory, nor in the local Hugging Face cache, nor on a
    reachable hub are left out of this run (through `dvc exp run -S featurizers=[...]`; params.yaml is
    left as it was), and one line says so.
    """
    params = load_params(PARAMS_FILE)
    missing = unavailable_encoders(params)
    if not missing:
        raise typer.Exit(subprocess.run([*DVC, "repro"]).returncode)
    kept = [name for name in params.featurizers if name not in missing]
    models = " ".join(params.featurize[name].model for name in missing)
    typer.echo(
        f"note: Hugging Face hub unreachable and {', '.join(missing)} not in the local HF cache: running without "
        f"them (dvc exp run -S '{featurizers_override(kept)}'); to add them, `huggingface-cli download {models}` "
        f"or set featurize.<name>.model to a local directory, then run again."
    )
    original = PARAMS_FILE.read_bytes()
    try:  # dvc exp run writes the override into params.yaml; the user's file is put back as it was
        done = subprocess.run([*DVC, "exp", "run", "-S", featurizers_override(kept)])
    finally:
        PARAMS_FILE.write_bytes(original)
    if done.returncode:
        raise StageError(f"dvc exp run failed (exit {done.returncode}); see its output above")


if __name__ == "__main__":
    app()
