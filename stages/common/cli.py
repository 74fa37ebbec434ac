"""How every stage reports a failure: one clear line on stderr and a non-zero exit, no traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")


class StageError(Exception):
    """A failure the user can fix (bad input, bad params, unreachable source); shown without traceback."""


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn StageError and OS errors (permission denied, disk full) into `error: ...` and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except StageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            print(f"error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
            raise typer.Exit(1) from None

    return wrapper


def stage_app(help_text: str) -> typer.Typer:
    """A typer app for one stage; `python -m stages.<name> --help` shows `help_text`."""
    return typer.Typer(help=help_text, add_completion=False, pretty_exceptions_enable=False)


# CLI arguments shared by the per-featurizer stages (featurize, train, evaluate).
FeaturizerArg = Annotated[str, typer.Argument(help="a name from params.yaml `featurizers`, e.g. tfidf")]
MessagesOption = Annotated[Path, typer.Option(help="prepared messages (Parquet: id, text, label)")]
SplitOption = Annotated[Path, typer.Option(help="the split (Parquet: id, split)")]
FeaturesDirOption = Annotated[Path | None, typer.Option(help="default: data/features/FEATURIZER")]
ModelDirOption = Annotated[Path | None, typer.Option(help="default: data/models/FEATURIZER")]
MESSAGES_FILE = Path("data/prepared/messages.parquet")
SPLIT_FILE = Path("data/split/split.parquet")
