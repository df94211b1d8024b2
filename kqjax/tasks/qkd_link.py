"""Prepare-and-measure QKD link: Monte Carlo counts -> decoy estimation -> key-rate dataset."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import kqjax.links  # noqa: F401  (registers the components)
from kqjax.links.link import Link, simulate
from kqjax.links.sources.weak_coherent import INTENSITIES
from kqjax.results.dataset import Var, assemble
from kqjax.results.io import write_figure
from kqjax.results.plots import curves

GROUPS = ("channel", "source", "detector", "protocol")

VARIABLES = {
    "key_rate": Var((), "bit/pulse", "secret key rate (simulated counts)"),
    "key_rate_asymptotic": Var((), "bit/pulse", "secret key rate (infinitely many pulses)"),
    "key_rate_bps": Var((), "bit/s", "secret key rate (simulated counts)"),
    "qber": Var(("intensity",), "1", "quantum bit error rate"),
    "gain": Var(("intensity",), "1", "gain (detection probability per sifted pulse)"),
    "y1_lower": Var((), "1", "single-photon yield, lower bound"),
    "e1_upper": Var((), "1", "single-photon error rate, upper bound"),
    "transmittance": Var((), "1", "channel transmittance"),
    "plob_bound": Var((), "bit/pulse", "PLOB repeaterless bound"),
    "sent": Var(("intensity",), "pulse", "pulses sent"),
    "sifted": Var(("intensity",), "pulse", "pulses with matching bases"),
    "detected": Var(("intensity",), "count", "sifted detections"),
    "errors": Var(("intensity",), "count", "sifted bit errors"),
}

# (distance in km, label) shown on key-rate plots against length_km.
MARKERS = (
    (30.0, "30 km LTE QKD (KR, 2016)"),
    (360.0, "360 km 5G backbone (KR, 2019)"),
    (421.0, "421 km BB84 record (Boaron 2018)"),
    (500.0, "500 km repeaterless target (KR)"),
    (1002.0, "1002 km TF-QKD (Liu 2023)"),
)


def arrays(out: dict) -> dict:
    """Dataset arrays from :func:`simulate`'s output."""
    c = out["counts"]
    return {**out, "sent": c.sum(-1), "sifted": c[..., :3].sum(-1), "detected": c[..., 0] + c[..., 1],
            "errors": c[..., 1]}


# What ``mode=optimize`` / ``mode=evaluate`` can maximise: name -> (units, long name).
OBJECTIVES = {
    "key_rate": ("bit/pulse", "asymptotic secret key rate"),
    "key_rate_bps": ("bit/s", "asymptotic secret key rate"),
}


def objective_samples(name: str, components: dict, key, samples: int):
    """The objective at ``samples`` transmittance realisations drawn with ``key`` (one value, at
    the expected transmittance, if the channel does not fade). Differentiable in every field.

    Where there is key this is the asymptotic key rate; where there is none it is the (negative)
    GLLP bracket R / (p_mu q) = Q_1 [1 - h2(e_1)] - f Q_mu h2(E_mu): it has the sign and the
    scale of R but does not shrink with the signal or basis probabilities, so an optimiser climbs
    it towards key instead of turning the signal off.
    """
    link = Link(**components)
    channel = link.channel
    if getattr(channel, "fading", False):
        eta = channel.sample(key, (samples,))
    else:
        eta = jnp.atleast_1d(channel.transmittance())
    scale = link.source.rep_rate_hz() if name == "key_rate_bps" else 1.0
    prefactor = jnp.maximum(link.source.p_mu * link.protocol.sifting(), 1e-300)

    def at(e):
        rate = link.estimate(link.probabilities(e), e)["key_rate_signed"]
        return jnp.where(rate > 0, scale * rate, rate / prefactor)

    return jax.vmap(at)(eta)


def run(built):
    link = Link(**built.components)
    r = built.run
    out = simulate(link, pulses=r.pulses, seed=r.seed, chunk_size=r.chunk, mode=r.mode, prng=r.prng,
                   progress=r.show_progress, workers=r.workers)
    ds = assemble(arrays(out), VARIABLES, built.grid,
                  coords={"intensity": ("intensity", list(INTENSITIES), {"long_name": "pulse class"})})
    return ds, {"pulses": r.pulses, "pulses_done": out["pulses_done"], "complete": out["complete"],
                "sampling": r.mode, "chunk_size": r.chunk}


def max_distance(ds) -> float | None:
    """Largest swept fiber length with a positive simulated key rate."""
    if "length_km" not in ds.dims or ds["key_rate"].ndim != 1:
        return None
    ok = ds["length_km"].values[ds["key_rate"].values > 0]
    return float(ok.max()) if ok.size else None


def summary(ds, rows: int = 11) -> str:
    """A short table: swept field(s), key rate, QBER of the signal, PLOB bound."""
    flat = ds[["key_rate", "key_rate_bps", "plob_bound"]].assign(
        qber_signal=ds["qber"].sel(intensity="signal"))
    dims = [d for d in flat["key_rate"].dims]
    frame = flat.to_dataframe().reset_index() if dims else None
    head = [*dims, "key rate [bit/pulse]", "key rate [bit/s]", "QBER", "PLOB [bit/pulse]"]
    lines = []
    if frame is None:
        vals = [[float(flat[v]) for v in ("key_rate", "key_rate_bps", "qber_signal", "plob_bound")]]
    else:
        idx = np.unique(np.linspace(0, len(frame) - 1, min(rows, len(frame))).round().astype(int))
        vals = [[frame[d].iloc[i] for d in dims] + [frame[v].iloc[i] for v in
                ("key_rate", "key_rate_bps", "qber_signal", "plob_bound")] for i in idx]
    widths = [max(12, len(h)) for h in head]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for row in vals:
        cells = [f"{v:.4g}" if i < len(dims) else f"{v:.3e}" if i != len(dims) + 2 else f"{100 * v:.2f} %"
                 for i, v in enumerate(row)]
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    d = max_distance(ds)
    if d is not None:
        lines.append(f"key rate > 0 up to {d:g} km (largest swept length with a positive rate)")
    return "\n".join(lines)


def plots(ds, directory) -> list:
    fig = curves(ds, [("key_rate", {"marker": "o", "ms": 3, "ls": "none", "label": "decoy BB84, simulated"}),
                      ("key_rate_asymptotic", {"lw": 1.5, "label": "decoy BB84, asymptotic"}),
                      ("plob_bound", {"ls": "--", "color": "k", "lw": 1, "label": "PLOB bound"})],
                 title=f"{ds.attrs.get('pulses', 0):.3g} pulses per point", ylabel="secret key rate [bit/pulse]",
                 markers=MARKERS if "length_km" in ds.dims else ())
    return [write_figure(fig, f"{directory}/key_rate.png")]
