"""How every stage reports a failure: one clear line on stderr and a non-zero exit, no traceback."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from stages.common.errors import StageError, check_name, clip
from stages.common.layout import FEATURES_DIR, MODELS_DIR

P = ParamSpec("P")
R = TypeVar("R")


STDOUT = "<stdout>"  # how an error writing the output names it


def quiet_broken_pipe() -> None:
    """The reader of our output went away (`| head -1`): stop now, silently, as the Python docs advise
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe): point stdout at devnull so that
    the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn StageError and OS errors (permission denied, disk full) into `error: ...` and exit 1.

    Every OS error names its path; one from writing the output names <stdout>. A closed stdout ends the
    command at once and quietly.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(*args, **kwargs)
            flush_output()  # a full disk behind a redirect shows here, not as a traceback at exit
            return result
        except BrokenPipeError:
            quiet_broken_pipe()
            raise typer.Exit(1) from None
        except StageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        except OSError as exc:
            where = exc.filename if exc.filename is not None else "(no path given by the system)"
            print(f"error: cannot access {where}: {exc.strerror or exc}", file=sys.stderr)
            raise typer.Exit(1) from None

    return wrapper


@contextlib.contextmanager
def writing_output() -> Iterator[None]:
    """An OS error writing stdout (a full disk behind a redirect) names <stdout>; a closed pipe stays itself."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, STDOUT) from None


def write_line(line: str) -> None:
    """Print one line of a command's output."""
    with writing_output():
        print(line)


def flush_output() -> None:
    with writing_output():
        sys.stdout.flush()


def stage_app(help_text: str) -> typer.Typer:
    """A typer app for one stage; `python -m stages.<name> --help` shows `help_text`."""
    return typer.Typer(help=help_text, add_completion=False, pretty_exceptions_enable=False)


# CLI arguments shared by the per-featurizer stages (featurize, train, evaluate).
FeaturizerArg = Annotated[
    str | None,
    typer.Argument(help="a name from params.yaml `featurizers`, e.g. tfidf; default: from DVC_STAGE (under dvc)"),
]


def stage_featurizer(featurizer: str | None) -> str:
    """The featurizer a per-featurizer stage works on: its argument, or under `dvc repro` the part of the
    stage name after `@` (DVC sets DVC_STAGE). dvc.yaml keeps names out of its shell commands, so a bad
    name in params.yaml can never run as shell code before the schema refuses it."""
    if featurizer is None:
        stage = os.environ.get("DVC_STAGE", "")
        if "@" not in stage:
            raise StageError("give a FEATURIZER (e.g. tfidf), or run the stage through `dvc repro`")
        featurizer = stage.rsplit("@", 1)[1]
    return check_name(featurizer)


# compare and report cover params.yaml's `featurizers` that evaluate has scored (all, but for a run that left
# encoders out); --only narrows them by hand.
OnlyOption = Annotated[
    str | None,
    typer.Option("--only", help="comma-separated featurizers to cover instead of params.yaml's `featurizers`"),
]


def covered_featurizers(featurizers: list[str], only: str | None) -> tuple[list[str], list[str]]:
    """(featurizers covered, featurizers left out): `only` narrows params.yaml's list, in its order."""
    if only is None:
        return list(featurizers), []
    wanted = [check_name(name.strip()) for name in only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in featurizers]
    if unknown or not wanted:
        raise StageError(f"--only {clip(only)!r}: name featurizers from params.yaml's featurizers {featurizers}")
    return [n for n in featurizers if n in wanted], [n for n in featurizers if n not in wanted]


MessagesOption = Annotated[Path, typer.Option(help="prepared messages (Parquet: id, text, label)")]
SplitOption = Annotated[Path, typer.Option(help="the split (Parquet: id, split)")]
FeaturesDirOption = Annotated[Path | None, typer.Option(help=f"default: {FEATURES_DIR}/FEATURIZER")]
ModelDirOption = Annotated[Path | None, typer.Option(help=f"default: {MODELS_DIR}/FEATURIZER")]
