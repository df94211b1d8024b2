"""Datasets, summaries and plots of ``mode=optimize`` (trajectory + optimum) and ``mode=evaluate``."""
from __future__ import annotations

import textwrap

import numpy as np

from kqjax.results.dataset import Var, assemble as assemble_grid
from kqjax.results.io import write_figure
from kqjax.results.plots import label, log_y
from kqjax.results.tables import pick


def assemble(arrays: dict, variables: dict, grid, steps: int | None = None):
    """Dataset on the sweep grid, plus a ``step`` dimension (0 = start) for trajectories."""
    coords = {}
    if steps is not None:
        coords["step"] = ("step", np.arange(steps + 1), {"long_name": "optimiser step (0: start)"})
    return assemble_grid(arrays, {k: Var(*v) for k, v in variables.items()}, grid, coords=coords)


def params_of(ds) -> list[str]:
    text = ds.attrs.get("param_variables", "")
    return text.split() if text else []


def summary(ds, rows: int = 11) -> str:
    """Optimum (or evaluated objective) per grid point; the start for comparison."""
    dims = [d for d in ds["objective"].dims if d != "step"]
    optimum = "objective_opt" in ds
    cols = ["objective_opt" if optimum else "objective"] + [f"{p}_opt" for p in params_of(ds)]
    head = [*dims, f"{ds.attrs.get('objective', 'objective')} [{ds[cols[0]].attrs.get('units', '1')}]",
            *params_of(ds)]
    frame = ds[cols].to_dataframe().reset_index() if dims else None
    if frame is None:
        table = [[float(ds[c]) for c in cols]]
    else:
        idx = pick(len(frame), rows)
        table = [[frame[d].iloc[i] for d in dims] + [frame[c].iloc[i] for c in cols] for i in idx]
    widths = [max(12, len(h)) for h in head]
    lines = []
    if optimum:
        lines.append(f"{ds.attrs['optimizer']}, {ds.attrs['steps']} steps, maximising "
                     f"{ds['objective_opt'].attrs['long_name'].removeprefix('optimal ')}")
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for row in table:
        cells = [f"{v:.4g}" if i < len(dims) or i > len(dims) else f"{v:.4e}" for i, v in enumerate(row)]
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    if optimum:
        start = ds["objective"].isel(step=0)
        gain = np.where(start > 0, ds["objective_opt"] / np.where(start > 0, start, 1.0), np.nan)
        if np.any(np.isfinite(gain)):
            lines.append(f"optimum / start: {np.nanmin(gain):.4g} to {np.nanmax(gain):.4g}")
        none = int(np.sum(ds["objective_opt"].values <= 0))
        if none:
            lines.append(f"no key at {none} of {ds['objective_opt'].size} points (parameters there are not optima)")
    return "\n".join(lines)


def plots(ds, directory) -> list:
    """``optimum.png`` (optimal objective and parameters against the first sweep axis) and
    ``trajectory.png`` (objective against step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if "objective_opt" not in ds:
        return written
    dims = [d for d in ds["objective_opt"].dims]
    if dims:
        x = dims[0]
        names = params_of(ds)
        fig, axes = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
        flat = ds.stack(_curve=dims[1:]) if len(dims) > 1 else ds.expand_dims(_curve=[0])
        curves = flat.sizes["_curve"]
        colours = plt.cm.viridis(np.linspace(0.0, 0.9, curves)) if curves > 1 else ["C0"]
        styles, marks = ["-", "--", ":", "-."], ["o", "s", "^", "D", "v"]
        for i in range(curves):
            one, colour = flat.isel(_curve=i), colours[i]
            tag = "" if len(dims) == 1 else " (" + ", ".join(
                f"{d}={np.asarray(one[d].values).item():g}" for d in dims[1:]) + ")"
            has_key = one["objective_opt"].values > 0
            xs = ds[x].values  # markers: a point whose neighbours have no key is drawn too
            axes[0].plot(xs, np.where(has_key, one["objective_opt"].values, np.nan), lw=1.5, marker="o", ms=3,
                         color=colour, label="optimum" + tag)
            start = one["objective"].isel(step=0).values
            axes[0].plot(xs, np.where(start > 0, start, np.nan), ls="--", lw=1, marker="x", ms=3, color=colour,
                         label="start" + tag)
            for j, name in enumerate(names):  # one curve: a colour per field; several: a colour per curve
                axes[1].plot(xs, np.where(has_key, one[f"{name}_opt"].values, np.nan), marker=marks[j % len(marks)],
                             ms=3, color=f"C{j}" if curves == 1 else colour, ls=styles[j % len(styles)],
                             label=name if i == 0 else None)
        log_y(axes[0])
        axes[0].set_ylabel(textwrap.fill(label(ds["objective_opt"]).removeprefix("optimal "), 40), fontsize=9)
        log_y(axes[1])
        axes[1].set_ylabel("optimal value")
        axes[1].set_xlabel(label(ds[x]))
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        axes[1].legend(fontsize=8, title=None if curves == 1 else "colours as above", title_fontsize=8)
        axes[0].set_title(f"{ds.attrs['optimizer']}, {ds.attrs['steps']} steps "
                          "(parameters shown where there is key)", fontsize=10)
        written.append(write_figure(fig, f"{directory}/optimum.png"))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ratio = ds["objective"] / ds["objective_opt"].where(ds["objective_opt"] > 0)
    flat = ratio.stack(_point=dims) if dims else ratio.expand_dims(_point=[0])
    picks = pick(flat.sizes["_point"], 8)
    for i in picks:
        line = flat.isel(_point=i)
        y = line.transpose("step").values
        if not np.any(np.isfinite(y)):
            continue
        tag = ", ".join(f"{d}={np.asarray(line[d].values).item():g}" for d in dims) or "objective"
        ax.plot(ds["step"].values, y, label=tag)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("objective / optimum")
    ax.set_title(label(ds["objective"]), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    written.append(write_figure(fig, f"{directory}/trajectory.png"))
    return written
