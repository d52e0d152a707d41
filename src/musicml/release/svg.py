"""Small, dependency-free SVG charts for the HTML report (no matplotlib in the lock).

Every chart is one self-contained ``<svg>`` string with a viewBox, so the
report inlines it and it scales with the page.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

import numpy as np

#: Twelve distinguishable colours (Tableau 10 + two), one per class.
PALETTE: tuple[str, ...] = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                            "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b")


def _diverging(value: float) -> str:
    """Blue (negative) - white (0) - red (positive) for ``value`` in [-1, 1]."""
    v = float(np.clip(value, -1.0, 1.0))
    if v >= 0:
        g = int(round(255 * (1 - v)))
        return f"#ff{g:02x}{g:02x}"
    g = int(round(255 * (1 + v)))
    return f"#{g:02x}{g:02x}ff"


def heatmap(matrix: np.ndarray, *, title: str, cell: int = 4, levels: int = 10, x_label: str = "frame",
            y_label: str = "mel band") -> str:
    """A diverging heat map of ``matrix`` (rows drawn bottom-up: low mel bands at the bottom).

    Values are scaled by the largest absolute value, so red is "pushes towards
    the class" and blue "pushes away", whatever the units. Colours are
    quantised to ``2 * levels + 1`` steps and each step is one ``<path>``: the
    file stays small enough to keep in git and inline in the report.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"heatmap needs a non-empty 2-D matrix, got shape {m.shape}")
    scale = float(np.abs(m).max()) or 1.0
    steps = np.rint(m / scale * levels).astype(int)      # -levels .. levels
    rows, cols = m.shape
    top, left = 18, 14
    width, height = left + cols * cell + 2, top + rows * cell + 14
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" font-family="sans-serif" font-size="9">',
             f'<text x="{left}" y="11">{escape(title)}</text>']
    for step in sorted(set(steps.ravel().tolist())):
        r_idx, c_idx = np.nonzero(steps == step)
        d = "".join(f"M{left + c * cell} {top + (rows - 1 - r) * cell}h{cell}v{cell}h-{cell}z"
                    for r, c in zip(r_idx, c_idx))
        parts.append(f'<path fill="{_diverging(step / levels)}" d="{d}"/>')
    parts.append(f'<text x="{left}" y="{height - 3}">{escape(x_label)} &#8594;</text>')
    parts.append(f'<text x="9" y="{top + rows * cell}" transform="rotate(-90 9 {top + rows * cell})">'
                 f'{escape(y_label)} &#8594;</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter(points: np.ndarray, labels: Sequence[str], *, title: str, classes: Sequence[str],
            size: int = 420) -> str:
    """A 2-D scatter plot, one colour per class, with a legend.

    Parameters
    ----------
    points : ndarray, shape (n, 2)
    labels : sequence of str, length n
        Class of each point (its colour: ``classes`` order indexes ``PALETTE``).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) != len(labels):
        raise ValueError(f"scatter needs (n, 2) points and n labels, got {pts.shape} and {len(labels)}")
    pad, legend_w = 20, 110
    lo, hi = (pts.min(axis=0), pts.max(axis=0)) if len(pts) else (np.zeros(2), np.ones(2))
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    xy = pad + (pts - lo) / span * (size - 2 * pad)
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size + legend_w} {size}" '
             f'width="{size + legend_w}" height="{size}" font-family="sans-serif" font-size="10">',
             f'<text x="{pad}" y="12">{escape(title)}</text>',
             f'<rect x="{pad / 2}" y="{pad / 2 + 6}" width="{size - pad}" height="{size - pad - 6}" fill="none" '
             f'stroke="#ccc"/>']
    labels = np.asarray(labels, dtype=object)
    for c in list(classes) + sorted(set(labels) - set(classes)):
        # one group per class: the colour is written once, not per point
        dots = "".join(f'<circle cx="{x:.1f}" cy="{size - y:.1f}" r="2.2"/>' for x, y in xy[labels == c])
        if dots:
            parts.append(f'<g fill="{colour.get(c, "#888")}" fill-opacity="0.75">{dots}</g>')
    for i, c in enumerate(classes):
        parts.append(f'<circle cx="{size + 8}" cy="{20 + 14 * i}" r="4" fill="{colour[c]}"/>'
                     f'<text x="{size + 16}" y="{24 + 14 * i}">{escape(c)}</text>')
    parts.append("</svg>")
    return "".join(parts)
