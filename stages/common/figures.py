"""PNG figures that work offline (`dvc plots show` HTML needs a CDN), drawn headless and written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from stages.common.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Lay out, write `path` whole or not at all, and free the figure."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
