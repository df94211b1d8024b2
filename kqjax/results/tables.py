"""Plain-text tables of results: which rows to show, and aligned columns."""
from __future__ import annotations

import numpy as np


def pick(n: int, rows: int) -> np.ndarray:
    """At most ``rows`` indices spread evenly over ``range(n)``, ends included."""
    return np.unique(np.linspace(0, n - 1, min(rows, n)).round().astype(int)) if n else np.arange(0)


def table(head: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)
