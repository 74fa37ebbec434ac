"""PNG figures that work offline (`dvc plots show` HTML needs a CDN), drawn headless and written atomically."""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from stages.common.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@functools.cache
def pyplot() -> ModuleType:
    """matplotlib.pyplot, headless, imported on first use: it costs a stage ~0.4 s to start, drawn or not."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: Path) -> None:
    """Lay out, write `path` whole or not at all, and free the figure."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)
