"""Plots of datasets: log-scale curves along the first swept dimension, labelled with units."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def label(da) -> str:
    units = da.attrs.get("units", "1")
    name = da.attrs.get("long_name", da.name)
    return name if units in ("1", "") else f"{name} [{units}]"


def log_y(*axes) -> None:
    """A log y-axis where the axes hold a positive finite value; else linear (an empty log axis is
    nothing to show, and matplotlib warns)."""
    for ax in axes:
        ys = [np.ravel(np.asarray(line.get_ydata(), float)) for line in ax.get_lines()]
        ys += [np.asarray(c.get_offsets(), float).reshape(-1, 2)[:, 1] for c in ax.collections]
        y = np.concatenate(ys) if ys else np.empty(0)
        if np.any(np.isfinite(y) & (y > 0)):
            ax.set_yscale("log")


def curves(ds, series: list[tuple[str, dict]], *, x: str | None = None, title: str = "",
           logx: bool = False, logy: bool = True, ylabel: str | None = None, markers=(),
           skip_missing: bool = False):
    """Figure of ``series`` = [(variable, matplotlib kwargs), ...] against ``x``.

    Extra dimensions beyond ``x`` each give one curve per value. ``markers`` are
    (x value, text) pairs drawn as vertical lines when inside the x range. With ``skip_missing``
    a curve joins its finite points across missing ones (NaN where a curve has no value at that
    x, e.g. averaging times that differ between sweep points); otherwise they leave gaps.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    first = ds[series[0][0]]
    x = x or (first.dims[0] if first.dims else None)
    for name, kw in series:
        da = ds[name]
        if x is None or x not in da.dims:
            ax.plot([0], np.atleast_1d(da.values)[:1], "o", label=kw.get("label", label(da)))
            continue
        others = [d for d in da.dims if d != x]
        stacked = da.stack(_curve=others) if others else da.expand_dims(_curve=[0])
        for i in range(stacked.sizes["_curve"]):
            line = stacked.isel(_curve=i)
            tag = "" if not others else " (" + ", ".join(
                f"{d}={np.asarray(line[d].values).item():g}" for d in others) + ")"
            y = np.asarray(line.transpose(x).values, float)
            if logy:
                y = np.where(y > 0, y, np.nan)
            xv = np.asarray(ds[x].values)
            if skip_missing:
                ok = np.isfinite(y)
                xv, y = xv[ok], y[ok]
            ax.plot(xv, y, **{**kw, "label": kw.get("label", label(da)) + tag})
    if x is not None:
        ax.set_xlabel(label(ds[x]))
        lo, hi = float(np.min(ds[x].values)), float(np.max(ds[x].values))
        for xv, text in markers:
            if lo <= xv <= hi:
                ax.axvline(xv, color="0.6", lw=0.8, ls=":")
                ax.annotate(text, (xv, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                            va="top", ha="right", fontsize=7, color="0.35")
    if logy:
        log_y(ax)
    if logx:
        ax.set_xscale("log")
    ax.set_ylabel(ylabel or label(first))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
