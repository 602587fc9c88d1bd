"""matplotlib for benchmark plots: headless, and optional (the plot is skipped, with a note, without it)."""

from __future__ import annotations

import sys


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, or None (and a note on stderr) where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[dev]')", file=sys.stderr)
        return None
    return plt


def line_plot(path, series: dict[str, tuple[list, list, dict]], hline: float | None = None, legend_columns: int = 1,
              **axes) -> bool:
    """Save one line per ``series`` entry (name -> xs, ys, matplotlib style) to ``path``; ``axes`` go to ``Axes.set``
    (labels, title, scales). False, and nothing written, without series or without matplotlib."""
    plt = pyplot() if series else None
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if len(series) > 10:  # the default cycle repeats after ten: two rows would share a colour
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    for name, (xs, ys, style) in series.items():
        ax.plot(xs, ys, label=name, **style)
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle=":", linewidth=1)
    ax.set(**axes)
    ax.legend(fontsize=7, ncol=legend_columns)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
