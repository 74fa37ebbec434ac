"""Atomic writes: an output either appears whole or not at all, even if the process is killed."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas stays out of `spam predict`'s imports
    import pandas as pd

RUN_LOGS = Path("logs")  # per-run facts (timings); see write_run_log


def remove_stale_temporaries(path: Path) -> None:
    """Delete what a killed writer of `path` left behind (`.NAME.*.tmp` beside it); one writer per output."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OS error inside the block that names no file (a full disk inside a library) names `path`."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or isinstance(exc, BrokenPipeError):
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside `path`; it replaces `path` only if the block finishes.

    mkstemp creates the file 0600; it gets the mode the umask gives any new file before it appears.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with naming(path):
            yield tmp
            tmp.chmod(0o666 & ~current_umask())
            # fsync before rename so a power cut cannot leave a renamed but empty file.
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; it replaces `path` only if the block finishes.

    mkdtemp creates it 0700; it gets the mode the umask gives any new directory before it appears.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        with naming(path):
            yield tmp
            tmp.chmod(0o777 & ~current_umask())
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_run_log(stage: str, name: str, record: dict[str, Any]) -> Path:
    """Timings and other facts of one run, in logs/STAGE/NAME.json: git-ignored and never a DVC output,
    so that they cannot change a hashed output or dirty the clone."""
    path = RUN_LOGS / stage / f"{name}.json"
    write_json(path, record)
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
