"""The project's exceptions, and the checks on names and values that raise them in one wording."""

from __future__ import annotations

import re

MAX_SHOWN = 80  # characters of a value quoted in an error message
# A featurizer name becomes a stage name (featurize@NAME), a directory (data/features/NAME) and a CLI
# argument: one safe alphabet, for the schema (stages/common/params.py) and the command line alike.
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class StageError(Exception):
    """A failure the user can fix (bad input, bad params, unreachable source); shown without traceback."""


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: the learning rate is too high for these features."""

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch} (loss {loss})")
        self.epoch, self.loss = epoch, loss


# Characters that a terminal acts on instead of showing (ESC starts cursor moves and colours; bidi overrides
# reorder what follows), other than the whitespace that clip flattens to spaces.
CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every terminal control character written as its escape (`\\x1b`), so it is shown, not obeyed."""
    return CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def clip(value: object, limit: int = MAX_SHOWN) -> str:
    """A value as it may appear in an error message: one line, at most `limit` characters."""
    text = " ".join((value if isinstance(value, str) else repr(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_name(text: str, what: str = "featurizer") -> str:
    """A name from the command line or DVC_STAGE, refused before it reaches a path."""
    if re.fullmatch(NAME_PATTERN, text) is None:
        raise StageError(f"{what} {clip(text)!r} is not a valid name: use lowercase letters, digits and _")
    return text


def utf8_text(data: bytes, source: object, advice: str) -> str:
    """`data` as text (a BOM dropped); otherwise StageError naming the line and byte of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StageError(f"{source} is not UTF-8 text (line {line}) at byte {exc.start}: {advice}") from None
