"""PNG figures that work offline (`dvc plots show` HTML needs a CDN), drawn headless and written atomically.

`readable_figure` gives the report's and the app's plots one look: text sized to be read where the report
shows a plot (half the page wide) and pixels enough for that width.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from stages.common.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_SIZE = (6.4, 4.8)  # inches: at FIGURE_DPI, 768 x 576 pixels, about the width the report gives a plot
FIGURE_DPI = 120
READABLE = {  # points; matplotlib's defaults (10, ticks 10) read as ~7 px once a 5-inch plot is scaled down
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 10,
}


@functools.cache
def pyplot() -> ModuleType:
    """matplotlib.pyplot, headless, imported on first use: it costs a stage ~0.4 s to start, drawn or not."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def readable_figure(size: tuple[float, float] = FIGURE_SIZE, **subplots) -> tuple[Figure, object]:
    """plt.subplots(...) in the READABLE style: a stage that calls it draws all its figures that way (the
    style is the process's; a tick's text size is read when the figure is drawn, not when it is made)."""
    plt = pyplot()
    plt.rcParams.update(READABLE)
    return plt.subplots(figsize=size, dpi=FIGURE_DPI, **subplots)


def save_figure(fig: Figure, path: Path) -> None:
    """Lay out, write `path` whole or not at all, and free the figure."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)
