"""QKD links of any protocol: Monte Carlo counts -> the protocol's estimator -> key-rate dataset.

The protocol (``protocol.kind``) declares the component groups it needs (``GROUPS``: sources,
arms ``channel``/``channel_a``/``channel_b``, detectors), its settings, outcomes and estimator
outputs; this task builds them, runs :func:`kqjax.links.link.simulate` and names everything.
"""
from __future__ import annotations

import dataclasses
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import kqjax.links  # noqa: F401  (registers the components)
from kqjax.config.errors import ConfigError
from kqjax.engine import driver
from kqjax.engine.params import registry, specs
from kqjax.links.link import Link, simulate
from kqjax.results.dataset import Var, assemble
from kqjax.results.io import write_figure
from kqjax.results.plots import curves, log_y
from kqjax.results.tables import pick

GROUPS = ("protocol", "source", "channel", "detector")
_COMPONENT_GROUP = re.compile(r"^(source|channel|detector)(_[a-z])?$")

COMMON = {
    "key_rate": Var((), "bit/pulse", "secret key rate (simulated counts)"),
    "key_rate_asymptotic": Var((), "bit/pulse", "secret key rate (infinitely many pulses)"),
    "key_rate_bps": Var((), "bit/s", "secret key rate (simulated counts)"),
    "transmittance": Var((), "1", "Alice-Bob transmittance (expected)"),
    "plob_bound": Var((), "bit/pulse", "PLOB repeaterless bound"),
}
POOLED = {
    "key_rate_pooled": Var((), "bit/pulse", "secret key rate of all time slots pooled (simulated counts)"),
    "key_rate_asymptotic_pooled": Var((), "bit/pulse", "secret key rate of all time slots pooled (infinitely many pulses)"),
    "key_rate_bps_pooled": Var((), "bit/s", "secret key rate of all time slots pooled (simulated counts)"),
    "transmittance_pooled": Var((), "1", "Alice-Bob transmittance averaged over the run"),
}
KEY_POOLED = {
    "secret_key_bits_pooled": Var((), "bit", "secret key of all time slots pooled (simulated counts)"),
    "secret_key_bits_expected": Var((), "bit", "secret key of all time slots pooled (expected counts)"),
}
"""The key of the whole run (one block: finite key over a pass), for protocols that report one."""
PRECISION = {
    "pulses_used": Var((), "pulse", "pulses sent at the point (early stopping: run.target_rel_error)"),
    "key_rate_rel_error": Var((), "1", "relative standard error of the key rate (delta method)"),
}
COUNTS = {
    "sent": Var(("setting",), "pulse", "pulses sent per setting"),
    "counts": Var(("setting", "outcome"), "count", "pulses per setting and outcome (measured settings)"),
}

# (distance in km, label) shown on key-rate plots against a distance.
MARKERS = (
    (30.0, "30 km LTE QKD (KR, 2016)"),
    (360.0, "360 km 5G backbone (KR, 2019)"),
    (421.0, "421 km BB84 record (Boaron 2018)"),
    (500.0, "500 km repeaterless target (KR)"),
    (1002.0, "1002 km TF-QKD (Liu 2023)"),
)
DISTANCES = ("distance_km", "length_km")


def protocol_class(cfg):
    """The configured protocol's class (None if the kind is missing or unknown)."""
    node = cfg.get("protocol")
    kind = node.get("kind") if hasattr(node, "get") else None
    return registry("protocol").get(kind)


def groups(cfg) -> tuple[str, ...]:
    """The component groups this run needs: the protocol and those it declares."""
    cls = protocol_class(cfg)
    return GROUPS if cls is None else ("protocol", *cls.GROUPS)


def check(cfg, built):
    """Refuse component groups the protocol does not use (e.g. ``channel`` for a two-arm one)."""
    cls = type(built.components["protocol"])
    for key in cfg:
        if _COMPONENT_GROUP.match(str(key)) and key not in cls.GROUPS and cfg.get(key) is not None:
            raise ConfigError(str(key), message=f"{key}: not a part of protocol '{cls.kind}' "
                              f"({cls.TOPOLOGY}), which takes {', '.join(cls.GROUPS)}")
    for group, kinds in cls.KINDS.items():
        kind = type(built.components[group]).kind
        if kind not in kinds:
            raise ConfigError(group, kind, message=f"{group}={kind}: protocol '{cls.kind}' runs on a {group} of kind "
                              f"{' or '.join(kinds)} ({group}={kinds[0]})")
    link = link_of(built.components)
    check_channels(cfg, link)
    r = built.run
    if r.devices is not None and not driver.devices_valid(r.devices):
        raise ConfigError("run.devices", r.devices, driver.devices_allowed())
    if r.target_rel_error is not None and link.time_varying:
        raise ConfigError("run.target_rel_error", r.target_rel_error, message=f"run.target_rel_error="
                          f"{r.target_rel_error}: must be null over a channel that changes in time")
    if link.time_varying:
        rep = np.asarray(link.rep_rate_hz())
        if not np.all(rep == rep.reshape(-1)[0]):
            raise ConfigError("source.rep_rate_mhz", message="source.rep_rate_mhz: cannot be swept over a "
                              "channel that changes in time (the time slots need one clock)")
        window = time_window(link)
        if window is not None:  # a pass: the pulses sent follow from its time window
            pulses = int(np.ceil(window * float(rep.reshape(-1)[0])))
            if pulses < 1:
                raise ConfigError("channel", message="channel: the pass never rises above its mask")
            built = dataclasses.replace(built, run=dataclasses.replace(built.run, pulses=pulses))
        else:
            warn_partial_table(link, r.pulses, float(rep.reshape(-1)[0]))
    return built


def warn_partial_table(link, pulses: float, rep_hz: float) -> None:
    """Warn when ``pulses`` at ``rep_hz`` cover less than 99 % of a time-series channel's span (its
    ``span_s()``, the last row's time): the run would stop part-way through the table."""
    spans = [float(np.max(np.asarray(ch.span_s()))) for ch in link.channels().values() if hasattr(ch, "span_s")]
    if spans and pulses / rep_hz < 0.99 * max(spans):
        span = max(spans)
        warnings.warn(f"run.pulses={pulses:.4g}: covers {pulses / rep_hz:.4g} s of the table's {span:.4g} s at "
                      f"{rep_hz / 1e6:g} MHz; run.pulses={np.ceil(span * rep_hz):.4g} covers it all", stacklevel=3)


def check_channels(cfg, link):
    """Refuse a fading that takes its parameters from a channel kind other than its arm's
    (``ChannelFading.CHANNELS``), and, outside ``mode=simulate``, a channel that draws something
    once per simulation (:meth:`Channel.drawn_per_run`), which an objective cannot differentiate."""
    mode = cfg.get("mode", "simulate")
    for arm, ch in link.channels().items():
        fading = getattr(ch, "fading", None)
        kinds = getattr(fading, "CHANNELS", None)
        if kinds is not None:  # a fading that follows its channel
            if type(ch).kind not in kinds:
                raise ConfigError(f"{arm}.fading.kind", fading.kind, message=f"{arm}.fading.kind={fading.kind}: "
                                  f"takes its parameters from a {' or '.join(kinds)} channel, not {type(ch).kind}")
            for text in fading.beyond_validity(ch):
                warnings.warn(f"{arm}.fading: {text}", stacklevel=2)
        drawn = ch.drawn_per_run()
        if drawn is not None and mode != "simulate":
            field, value = drawn
            raise ConfigError(f"{arm}.{field}", value, message=f"{arm}.{field}={value}: drawn once per simulation, "
                              f"which mode={mode} cannot differentiate; use mode=simulate")


def time_window(link) -> float | None:
    """The longest time window of the arms that have one (a pass), s; None if none has."""
    spans = [np.max(np.asarray(ch.window_s())) for ch in link.channels().values() if hasattr(ch, "window_s")]
    return float(max(spans)) if spans else None


def describe(link, times) -> dict:
    """Per-slot quantities the channels report (``describe(t)``: elevation, range, loss, ...):
    ``{name: (array [G, T], units, long name)}``, names prefixed by the arm on two-arm links."""
    out = {}
    for arm, ch in link.channels().items():
        if not hasattr(ch, "describe"):
            continue
        meta = {}

        def values(c, t):  # one compiled program; the units and long names are read while tracing
            d = c.describe(t)
            meta.update({k: v[1:] for k, v in d.items()})
            return {k: v[0] for k, v in d.items()}

        vals = jax.jit(jax.vmap(lambda c: jax.vmap(lambda t: values(c, t))(times)))(ch)
        prefix = "" if len(link.channels()) == 1 else f"{arm}_"
        out.update({prefix + k: (np.asarray(v), *meta[k]) for k, v in vals.items()})
    return out


def link_of(components: dict) -> Link:
    comps = dict(components)
    return Link(comps.pop("protocol"), comps)


def variables(protocol, time_varying: bool) -> dict:
    """Dataset variables of a run: rates, the protocol's estimator outputs and the counts."""
    per = {**COMMON, **{k: Var(*v) for k, v in protocol.VARIABLES.items()}}
    if not time_varying:
        return {**per, **COUNTS}
    timed = {k: Var(("time_s", *v.dims), v.units, v.long_name) for k, v in {**per, **COUNTS}.items()}
    keyed = KEY_POOLED if "secret_key_bits" in protocol.VARIABLES else {}
    return {**timed, **POOLED, **keyed}


def coords(protocol, slots) -> dict:
    out = {"setting": ("setting", list(protocol.SETTINGS), {"long_name": "pulse setting (parties' choices)"}),
           "outcome": ("outcome", list(protocol.OUTCOMES), {"long_name": "measurement outcome"})}
    for dim, labels in protocol.COORDS.items():
        out[dim] = (dim, list(labels), {"long_name": dim})
    if slots is not None:
        out["time_s"] = ("time_s", slots.times, {"units": "s", "long_name": "time (middle of the slot)"})
    return out


# What ``mode=optimize`` / ``mode=evaluate`` can maximise: name -> (units, long name).
OBJECTIVES = {
    "key_rate": ("bit/pulse", "asymptotic secret key rate"),
    "key_rate_bps": ("bit/s", "asymptotic secret key rate"),
    "secret_key_bits": ("bit", "secret key of the run (a pass: its window) from its expected counts"),
}
POOLED_OBJECTIVES = ("secret_key_bits",)
"""Objectives of the whole run's expected counts, one block over any fading and time."""


def objective_samples(name: str, components: dict, key, samples: int, pooled: bool = False,
                      pulses: float = 1.0, nodes: int = 32):
    """The objective at ``samples`` transmittance realisations drawn with ``key`` (one value, at
    the expected transmittance, if no channel fades; one value, the estimator on the expected
    counts over the fading, if ``pooled``). The estimator sees the expected counts of ``pulses``
    pulses (what a finite-size analysis needs; other estimators do not depend on the scale).
    Differentiable in every field.

    Where there is key this is the asymptotic key rate; where there is none it is the (negative)
    rate over the protocol's ``margin_scale``, the key-carrying detections per pulse (for decoy
    BB84 the key per detected signal, R / (p_mu q Q_mu) = Omega [1 - h2(e_1)] - f h2(E_mu)): it
    has the sign of R and rises towards key as the signal's intensity and probabilities grow
    from 0, so an optimiser climbs it towards key instead of turning the signal off.

    ``secret_key_bits`` is the key length l of the whole run as one block (with
    ``protocol.finite_key``: Lim et al.'s bound, unfloored) from its expected counts,
    sum_t N_t p(eta(t)) = N E_t[p(eta(t))] (:meth:`Link.expected_run`: over a pass N = f W and
    ``nodes`` Gauss-Legendre nodes over its window W; a static link: N = ``pulses``); always one
    value, pooled over any fading. Without key it is the margin l / (N p_mu q Q_mu), the key per
    detected signal.
    """
    link = link_of(components)
    protocol, parts = link.protocol, link.parts
    scale = link.rep_rate_hz() if name == "key_rate_bps" else 1.0

    def margin(rate, ps, po, eta):  # the key per key-carrying detection, times the transmittance
        return rate / jnp.maximum(protocol.margin_scale(ps, po, parts), 1e-300) * protocol.alice_bob_transmittance(eta)

    if name == "secret_key_bits":
        n, ps, po, eta = link.expected_run(pulses, nodes)
        rate = protocol.estimate(ps, po, parts, eta)["key_rate_signed"]
        return jnp.where(rate > 0, n * rate, n * margin(rate, ps, po, eta))[None]

    def signed(ps, po, eta):
        rate = protocol.estimate(pulses * ps, pulses * po, parts, eta)["key_rate_signed"]
        return scale * jnp.where(rate > 0, rate, margin(rate, ps, po, eta))

    if pooled or not link.fading:
        return signed(*link.expected_state())[None]
    etas = jax.vmap(link.sample_transmittance)(jax.random.split(key, samples))
    return jax.vmap(lambda e: signed(*link.probabilities(e), e))(etas)


def bb84_reference(components: dict, size: int):
    """Asymptotic decoy-BB84 key rate [size] over the same Alice-Bob fiber (the arms joined, the
    first arm's attenuation and fading) with the same detector, the default weak-coherent source
    and infinitely many decoys; None where the arms are not fibers."""
    from kqjax.links.channels.fiber import Fiber
    from kqjax.links.protocols.bb84_decoy import DecoyBB84
    from kqjax.links.sources.weak_coherent import WeakCoherentSource

    link = link_of(components)
    arms = list(link.channels().values())
    if not all(isinstance(a, Fiber) for a in arms):
        return None

    def full(cls, **kw):
        """Defaults of ``cls`` with the numeric fields over the grid."""
        fields = specs(cls)
        return cls(**{k: (getattr(cls(), k) if spec.static else np.full(size, float(getattr(cls(), k))))
                      for k, spec in fields.items()} | kw)

    channel = Fiber(length_km=sum(a.length_km for a in arms), attenuation_db_per_km=arms[0].attenuation_db_per_km,
                    extra_loss_db=sum(a.extra_loss_db for a in arms), fading=arms[0].fading)
    detector = components.get("detector", components.get("detector_b"))
    ref = Link(full(DecoyBB84, decoy="infinite"), {"source": full(WeakCoherentSource), "channel": channel,
                                                   "detector": detector})
    return np.asarray(jax.jit(jax.vmap(Link.expected))(ref)["key_rate_asymptotic"])


def crossover(ds):
    """Alice-Bob distance from which the asymptotic rate beats the PLOB bound: the first swept
    distance where it does, interpolated in log(rate / bound) from the point before; NaN where it
    never does or already does at the first point."""
    dim = distance_dim(ds)
    rate = ds["key_rate_asymptotic"].transpose(..., dim).values
    with np.errstate(divide="ignore"):
        r = np.log(np.maximum(rate, 1e-300) / ds["plob_bound"].transpose(..., dim).values)
    d = ds[dim].values
    flat_r, flat_ok = r.reshape(-1, d.size), ((rate > 0) & (r > 0)).reshape(-1, d.size)
    out = np.full(flat_r.shape[0], np.nan)
    for i, ok in enumerate(flat_ok):
        first = np.flatnonzero(ok)
        if first.size and first[0] > 0:
            j = first[0] - 1
            a, b = flat_r[i, j], flat_r[i, j + 1]
            out[i] = d[j] + (d[j + 1] - d[j]) * (-a / (b - a)) if np.isfinite(a) else d[j + 1]
    return out.reshape(r.shape[:-1])


def optimum(ds, dim: str):
    """(optimal value of swept source field ``dim``, the asymptotic rate there) at every other point."""
    rate = ds["key_rate_asymptotic"]
    best = rate.fillna(-1.0).argmax(dim)
    return ds[dim][best].where(rate.max(dim) > 0), rate.max(dim)


def analyse(ds, built):
    """Add the comparisons that a swept distance or source field call for."""
    dim = distance_dim(ds)
    if dim is not None and ds.attrs["protocol"] != "bb84_decoy" and "time_s" not in ds.dims:
        ref = bb84_reference(built.components, built.grid.size)
        if ref is not None:
            ds["key_rate_bb84"] = (ds["key_rate"].dims, built.grid.unflatten(ref),
                                   {"units": "bit/pulse", "long_name": "decoy BB84 over the same fiber "
                                    "(default source, infinite decoys; asymptotic)"})
    if dim is not None and "time_s" not in ds.dims and len(built.components["protocol"].ARMS) > 1:
        ds["plob_crossover_km"] = ([d for d in ds["key_rate"].dims if d != dim], crossover(ds),
                                   {"units": "km", "long_name": "distance beyond which the asymptotic rate "
                                    "beats the PLOB bound"})
    swept = [a for a in built.grid.axes if a.path.startswith("source.")]
    if len(swept) == 1 and "time_s" not in ds.dims:
        name = swept[0].name
        value, rate = optimum(ds, name)
        ds[f"{name}_opt"] = value.assign_attrs(units=swept[0].unit,
                                               long_name=f"optimal {swept[0].long_name} (best of the swept values)")
        ds["key_rate_opt"] = rate.assign_attrs(units="bit/pulse",
                                               long_name=f"asymptotic key rate at the optimal {name} (best of the swept values)")
    return ds


def run(built):
    link = link_of(built.components)
    r = built.run
    out = simulate(link, pulses=r.pulses, seed=r.seed, chunk_size=r.chunk, mode=r.mode, prng=r.prng,
                   progress=r.show_progress, workers=r.workers, slot_s=r.slot_s, devices=r.devices,
                   target_rel_error=r.target_rel_error)
    slots, link = out["slots"], out["link"]
    names = variables(link.protocol, slots is not None)
    if "pulses_used" in out:
        names.update(PRECISION, qber_rel_error=Var(names["qber"].dims, "1", "relative standard error of the QBER"))
    ds = assemble(out, names, built.grid, coords=coords(link.protocol, slots))
    ds.attrs["protocol"] = type(link.protocol).kind
    times = jnp.asarray(slots.times if slots is not None else [0.0])
    for name, (values, units, long_name) in describe(link, times).items():
        dims, values = (("time_s",), values) if slots is not None else ((), values[:, 0])
        ds[name] = (built.grid.dims() + dims, built.grid.unflatten(values), {"units": units, "long_name": long_name})
    if slots is not None:
        window = [np.asarray(ch.window_s()) for ch in link.channels().values() if hasattr(ch, "window_s")]
        if window:
            ds["pass_duration_s"] = (built.grid.dims(), built.grid.unflatten(np.broadcast_to(window[0], (built.grid.size,))),
                                     {"units": "s", "long_name": "time above the elevation mask"})
    if link.fading and r.fading_samples:
        ds = add_fading_statistics(ds, link, built, 0.0 if slots is None else float(slots.times[slots.count // 2]))
    ds = analyse(ds, built)
    cls = type(link.protocol)
    attrs = {"pulses": r.pulses, "pulses_done": out["pulses_done"], "complete": out["complete"],
             "sampling": r.mode, "chunk_size": r.chunk, "protocol": cls.kind, "topology": cls.TOPOLOGY,
             "parties": " ".join(cls.PARTIES)}
    if slots is not None:
        attrs.update(slot_s=slots.seconds, slots=slots.count)
    return ds, attrs


FADING_STATISTICS = {
    "transmittance_samples": Var(("sample",), "1", "Alice-Bob transmittance realisations of the fading "
                                 "(drawn from the channel models with the run's seed; at the middle time slot "
                                 "over a channel that changes in time)"),
    "outage_probability": Var((), "1", "outage probability: fraction of fading realisations whose asymptotic "
                              "key rate is zero"),
    "key_rate_quantile": Var(("quantile",), "bit/pulse", "asymptotic key rate of a fading realisation at "
                             "the quantile level (exceeded with probability 1 - level)"),
    "density_transmittance": Var(("density_point",), "1", "transmittances at which the density is given"),
    "transmittance_density": Var(("density_point",), "1", "analytic probability density of the Alice-Bob "
                                 "transmittance"),
}


def add_fading_statistics(ds, link, built, t: float = 0.0):
    """The fading statistics of :func:`kqjax.links.fading_statistics.fading_statistics` at time ``t``
    as dataset variables (the density only where the model has one)."""
    from kqjax.links.fading_statistics import fading_statistics

    r = built.run
    stats = fading_statistics(link, r.seed, r.prng, r.fading_samples, r.quantiles, t)
    if not np.all(np.isfinite(stats["transmittance_density"])):
        stats = {k: v for k, v in stats.items() if k not in ("density_transmittance", "transmittance_density")}
    ds = ds.assign_coords(quantile=("quantile", list(r.quantiles), {"long_name": "quantile level"}))
    for name, var in FADING_STATISTICS.items():
        if name in stats:
            ds[name] = (built.grid.dims() + var.dims, built.grid.unflatten(stats[name]),
                        {"units": var.units, "long_name": var.long_name})
    return ds


def distance_dim(ds) -> str | None:
    return next((d for d in DISTANCES if d in ds.dims), None)


def max_distance(ds) -> float | None:
    """Largest swept distance with a positive simulated key rate."""
    dim = distance_dim(ds)
    rate = ds["key_rate_pooled"] if "key_rate_pooled" in ds else ds["key_rate"]
    if dim is None or rate.ndim != 1:
        return None
    ok = ds[dim].values[rate.values > 0]
    return float(ok.max()) if ok.size else None


def _key_class(ds, da):
    """``da`` at the first label of the protocol's own dimensions (the key-carrying class)."""
    dims = registry("protocol")[ds.attrs["protocol"]].COORDS if "protocol" in ds.attrs else {}
    return da.isel({d: 0 for d in dims if d in da.dims})


def optimum_summary(ds, opt: str, dist: str, rows: int) -> str:
    """Per distance: the optimal swept source field and the asymptotic rate there."""
    from kqjax.results.tables import table

    head = [f"{dist}", f"optimal {opt}", "key rate [bit/pulse]", "key rate [bit/s]", "PLOB [bit/pulse]"]
    rep = ds["key_rate_bps"].isel({opt: 0}) / ds["key_rate"].isel({opt: 0}).where(ds["key_rate"].isel({opt: 0}) > 0)
    body = []
    for i in pick(ds.sizes[dist], rows):
        one = ds.isel({dist: i})
        r = float(one["key_rate_opt"])
        bps = r * float(np.nanmax(rep.values)) if np.any(np.isfinite(rep.values)) else float("nan")
        body.append([f"{float(one[dist]):.4g}", f"{float(one[f'{opt}_opt']):.4g}", f"{r:.3e}", f"{bps:.3e}",
                     f"{float(one['plob_bound'].isel({opt: 0})):.3e}"])
    top = f"{ds.attrs.get('protocol', '')} ({ds.attrs.get('topology', '')}), optimum over the swept {opt} (asymptotic rates)"
    return "\n".join([top, table(head, body)])


def _percent(x: float) -> str:
    """A rate as a percentage; a dash where nothing was observed (NaN)."""
    return "—" if np.isnan(x) else f"{100 * x:.2f} %"


def slot_summary(ds, rows: int) -> str:
    """Per time slot: transmittance, key rate, QBER; then the whole run pooled."""
    from kqjax.results.tables import table

    head = ["time [s]", "transmittance", "key rate [bit/pulse]", "key rate [bit/s]", "QBER"]
    qber = _key_class(ds, ds["qber"])
    body = [[f"{float(ds['time_s'][i]):.4g}", f"{float(ds['transmittance'][i]):.3e}", f"{float(ds['key_rate'][i]):.3e}",
             f"{float(ds['key_rate_bps'][i]):.3e}", _percent(float(qber[i]))] for i in pick(ds.sizes["time_s"], rows)]
    return "\n".join([
        f"{ds.attrs.get('protocol', '')} ({ds.attrs.get('topology', '')}), {ds.attrs['slots']} time slots of "
        f"{ds.attrs['slot_s']:.4g} s", table(head, body),
        f"all slots pooled: {float(ds['key_rate_pooled']):.3e} bit/pulse, {float(ds['key_rate_bps_pooled']):.3e} bit/s "
        f"(asymptotic {float(ds['key_rate_asymptotic_pooled']):.3e} bit/pulse; no finite-size correction)"
        + ("; stopped early: both rates are of the pulses sent" if not ds.attrs.get("complete", True) else "")])


def summary(ds, rows: int = 11) -> str:
    """A short table: swept field(s), key rate, QBER (of the key-carrying class), PLOB bound."""
    if optimum_dim(ds) and distance_dim(ds) and ds["key_rate_opt"].ndim == 1:
        return optimum_summary(ds, optimum_dim(ds), distance_dim(ds), rows)
    timed = "key_rate_pooled" in ds
    if timed and ds["key_rate"].dims == ("time_s",):
        return slot_summary(ds, rows)
    names = ("key_rate_pooled", "key_rate_bps_pooled", "qber", "plob_bound") if timed else \
        ("key_rate", "key_rate_bps", "qber", "plob_bound")
    cols = {"key_rate": ds[names[0]], "key_rate_bps": ds[names[1]], "qber": _key_class(ds, ds["qber"]),
            "plob": ds["plob_bound"]}
    if timed:
        cols["qber"] = cols["qber"].mean("time_s")
        cols["plob"] = cols["plob"].mean("time_s")
    dims = list(cols["key_rate"].dims)
    head = [*dims, "key rate [bit/pulse]", "key rate [bit/s]", "QBER", "PLOB [bit/pulse]"]
    frame = xr.Dataset(cols).to_dataframe().reset_index() if dims else None
    if frame is None:
        vals = [[float(cols[v]) for v in ("key_rate", "key_rate_bps", "qber", "plob")]]
    else:
        vals = [[frame[d].iloc[i] for d in dims] + [frame[v].iloc[i] for v in ("key_rate", "key_rate_bps", "qber", "plob")]
                for i in pick(len(frame), rows)]
    widths = [max(12, len(h)) for h in head]
    lines = [f"{ds.attrs.get('protocol', '')} ({ds.attrs.get('topology', '')})"
             + (f", {ds.attrs['slots']} time slots of {ds.attrs['slot_s']:.4g} s, rates of all slots pooled" if timed else "")]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    for row in vals:
        cells = [f"{v:.4g}" if i < len(dims) else f"{v:.3e}" if i != len(dims) + 2 else _percent(v)
                 for i, v in enumerate(row)]
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    d = max_distance(ds)
    if d is not None:
        lines.append(f"key rate > 0 up to {d:g} km (largest swept distance with a positive rate)")
    return "\n".join(lines)


def optimum_dim(ds) -> str | None:
    """The swept source field whose optimum the dataset holds (``<name>_opt``), if any."""
    return next((v[:-4] for v in ds.data_vars if v.endswith("_opt") and v != "key_rate_opt"
                 and v[:-4] in ds.dims), None)


def plots(ds, directory) -> list:
    """``key_rate.png``: simulated and asymptotic rates, decoy BB84 over the same fiber and the
    PLOB bound against the first sweep dimension (a distance: records and targets marked, and the
    PLOB crossover); over a changing channel, against time. ``optimum.png`` when a source field is
    swept: the rate against that field at a few distances with the optimum marked, and the optimal
    rate and field against distance."""
    label = registry("protocol")[ds.attrs["protocol"]].LABEL if "protocol" in ds.attrs else "key rate"
    opt = optimum_dim(ds)
    shown = at_optimum(ds, opt) if opt else ds
    dist = distance_dim(ds)
    x = dist or ("time_s" if "time_s" in ds.dims else None)
    series = [("key_rate", {"marker": "o", "ms": 3, "ls": "none", "label": f"{label}, simulated"}),
              ("key_rate_asymptotic", {"lw": 1.5, "label": f"{label}, asymptotic"})]
    if "key_rate_bb84" in ds:
        series.append(("key_rate_bb84", {"lw": 1, "ls": "-.", "color": "tab:gray", "label": "decoy BB84, asymptotic"}))
    series.append(("plob_bound", {"ls": "--", "color": "k", "lw": 1, "label": "PLOB bound"}))
    cross = ds.get("plob_crossover_km")
    marks = list(MARKERS) if dist else []
    if cross is not None and cross.ndim == 0 and np.isfinite(cross):
        marks.append((float(cross), f"beats PLOB from {float(cross):.0f} km"))
    title = f"{ds.attrs.get('pulses', 0):.3g} pulses per point" + (f", at the optimal {opt}" if opt else "")
    fig = curves(shown, series, x=x, title=title,
                 ylabel="secret key rate [bit/pulse]", markers=marks)
    written = [write_figure(fig, f"{directory}/key_rate.png")]
    if "elevation_deg" in ds and ds["elevation_deg"].dims == ("time_s",):
        written.append(write_figure(pass_figure(ds, label), f"{directory}/pass.png"))
    elif ds["key_rate"].dims == ("time_s",):
        written.append(write_figure(time_series_figure(ds, label), f"{directory}/time_series.png"))
    if opt and dist:
        written.append(write_figure(optimum_figure(ds, opt, dist, label), f"{directory}/optimum.png"))
    if "secret_key_bits_pooled" in ds and ds["secret_key_bits_pooled"].ndim:
        written.append(write_figure(key_per_pass_figure(ds, label), f"{directory}/key_per_pass.png"))
    if "transmittance_samples" in ds:
        written.append(write_figure(pdtc_figure(ds, label), f"{directory}/pdtc.png"))
    return written


def pdtc_figure(ds, label: str):
    """The probability distribution of the transmittance (histogram of ``transmittance_samples``
    at up to four sweep points, against ``transmittance_density`` where the model has one), and the
    key-rate quantiles and outage probability against the first sweep dimension."""
    import matplotlib.pyplot as plt

    from kqjax.results.plots import label as axis_label

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    grid_dims = [d for d in ds["outage_probability"].dims]
    flat = (lambda da: da.stack(_point=grid_dims)) if grid_dims else (lambda da: da.expand_dims(_point=[0]))
    samples = flat(ds["transmittance_samples"]).transpose("_point", "sample")
    density = flat(ds["transmittance_density"]).transpose("_point", ...) if "transmittance_density" in ds else None
    at = flat(ds["density_transmittance"]).transpose("_point", ...) if density is not None else None
    for i in pick(samples.sizes["_point"], 4):
        values = samples.isel(_point=i).values
        point = samples["_point"].values[i] if grid_dims else ()
        point = point if isinstance(point, tuple) else (point,)
        tag = ", ".join(f"{d}={float(v):g}" for d, v in zip(grid_dims, point)) or "all samples"
        _, _, patches = left.hist(values, bins=40, density=True, histtype="step", label=tag)
        if density is not None:
            left.plot(at.isel(_point=i).values, density.isel(_point=i).values, color=patches[0].get_edgecolor(), lw=1.2)
    left.set(xlabel="Alice-Bob transmittance", ylabel="probability density",
             title="transmittance distribution: histogram" + (", model density (lines)" if density is not None else
                                                               " (the model has no closed-form density)"))
    quant = ds["key_rate_quantile"]
    x = grid_dims[0] if grid_dims else None
    if x is not None:
        one = quant.isel({d: 0 for d in grid_dims[1:]})
        for level in ds["quantile"].values:
            y = one.sel(quantile=level).values
            right.plot(ds[x], np.where(y > 0, y, np.nan), "o-", ms=3, label=f"quantile {level:g}")
        mean = ds["key_rate_asymptotic"].isel({d: 0 for d in grid_dims[1:]})
        right.plot(ds[x], np.where(mean > 0, mean, np.nan), "k--", lw=1, label=f"{label}, asymptotic (long run)")
        right.set(xlabel=axis_label(ds[x]), xscale="log" if ds[x].values.min() > 0 and
                  ds[x].values.max() / ds[x].values.min() > 50 else "linear")
        twin = right.twinx()
        twin.plot(ds[x], ds["outage_probability"].isel({d: 0 for d in grid_dims[1:]}), ":", color="tab:red",
                  label="outage probability")
        twin.set(ylabel="outage probability", ylim=(-0.02, 1.02))
        twin.legend(fontsize=8, loc="upper right")
    else:
        y = quant.values
        right.plot(ds["quantile"], np.where(y > 0, y, np.nan), "o-", label=f"outage probability "
                   f"{float(ds['outage_probability']):.3g}")
        right.set(xlabel="quantile level")
    right.set(ylabel="key rate of a fading realisation [bit/pulse]",
              title=f"{label}: key-rate quantiles over the fading")
    log_y(right)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    right.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def pass_figure(ds, label: str):
    """A pass: loss against elevation (rising and setting), and the key rate along the pass."""
    import matplotlib.pyplot as plt

    from kqjax.results.plots import label as axis_label

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    rising = np.arange(ds.sizes["time_s"]) <= int(np.argmax(ds["elevation_deg"].values))
    for part, style in ((rising, "-"), (~rising, "--")):
        left.plot(ds["elevation_deg"].values[part], ds["loss_db"].values[part], style,
                  label="rising" if style == "-" else "setting")
    left.set(xlabel=axis_label(ds["elevation_deg"]), ylabel=axis_label(ds["loss_db"]), title="channel loss")
    rate_along_time(right, ds, label, "whole pass pooled")
    right.set(title=f"pass of {float(ds['pass_duration_s']):.0f} s above the mask")
    log_y(right)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def rate_along_time(ax, ds, label: str, pooled: str):
    """The key rate of each time slot (bit/s) and, dotted, that of all slots pooled."""
    from kqjax.results.plots import label as axis_label

    y = np.where(ds["key_rate_bps"] > 0, ds["key_rate_bps"], np.nan)
    ax.plot(ds["time_s"], y, "o-", ms=3, label=f"{label}, per slot")
    ax.axhline(float(ds["key_rate_bps_pooled"]), color="k", ls=":", lw=1, label=pooled)
    ax.set(xlabel=axis_label(ds["time_s"]), ylabel=axis_label(ds["key_rate_bps"]))


def time_series_figure(ds, label: str):
    """A channel that changes in time (not a pass): the key rate per slot with the pooled rate,
    and the transmittance along time: expected, and as the counts saw it, the mean transmittance
    times the slot's fraction of measured pulses with a click over the run's (exact where clicks
    are proportional to the transmittance: dark counts negligible, eta mu << 1)."""
    import matplotlib.pyplot as plt

    from kqjax.results.plots import label as axis_label

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    rate_along_time(left, ds, label, "all slots pooled")
    left.set(title=f"{ds.attrs['slots']} slots of {ds.attrs['slot_s']:.3g} s")
    clicked = ds["counts"].isel(outcome=slice(0, -1)).sum(("setting", "outcome"))
    measured = ds["counts"].sum(("setting", "outcome"))
    seen = float(ds["transmittance_pooled"]) * (clicked / measured) / float(clicked.sum() / measured.sum())
    right.plot(ds["time_s"], seen, "o-", ms=3, label="from the counts of each slot")
    right.plot(ds["time_s"], ds["transmittance"], "k--", lw=1, label="expected")
    right.set(xlabel=axis_label(ds["time_s"]), ylabel="Alice-Bob transmittance", title="transmittance along time")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def key_per_pass_figure(ds, label: str):
    """The key of the whole run (a pass, one block) against the longest swept field, one line per
    value of the next (the rest at their first value): the key of the expected counts (line)
    and of the simulated counts (markers)."""
    import matplotlib.pyplot as plt

    from kqjax.results.plots import label as axis_label

    expected, simulated = ds["secret_key_bits_expected"], ds["secret_key_bits_pooled"]
    x, *rest = sorted(expected.dims, key=lambda d: -ds.sizes[d])  # the longest sweep along x
    other = rest[0] if rest else None
    fig, ax = plt.subplots(figsize=(6.5, 4.3))
    fixed = {d: 0 for d in rest[1:]}
    for i in range(ds.sizes[other]) if other else [None]:
        sel = {**fixed, **({other: i} if other else {})}
        e, s = expected.isel(sel), simulated.isel(sel)
        text = f"{other} = {float(ds[other][i]):g}" if other else label
        line, = ax.plot(ds[x], np.where(e > 0, e, np.nan), "-", label=text)
        ax.plot(ds[x], np.where(s > 0, s, np.nan), "o", ms=4, color=line.get_color())
    shown = ", ".join(f"{d} = {float(ds[d][0]):g}" for d in rest[1:])
    log_y(ax)
    ax.set(xlabel=axis_label(ds[x]), ylabel="secret key per pass [bit]",
           title=f"{label}: key per pass (line: expected counts, o: simulated)" + (f"\n{shown}" if shown else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def at_optimum(ds, opt: str):
    """Every variable at the optimal value of the swept source field ``opt`` (per other point)."""
    best = ds["key_rate_asymptotic"].fillna(-1.0).argmax(opt)
    return ds.drop_vars([v for v in ds.data_vars if opt not in ds[v].dims]).isel({opt: best}).assign(
        {v: ds[v] for v in ds.data_vars if opt not in ds[v].dims})


def optimum_figure(ds, opt: str, dist: str, label: str):
    """Rate against the swept source field ``opt`` at a few distances (optimum marked), and the
    optimal rate and field against distance."""
    import matplotlib.pyplot as plt

    from kqjax.results.plots import label as axis_label

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    for i in pick(ds.sizes[dist], 4):
        one = ds.isel({dist: i})
        y = np.where(one["key_rate_asymptotic"] > 0, one["key_rate_asymptotic"], np.nan)
        line, = left.plot(ds[opt], y, label=f"{dist} = {float(one[dist]):g}")
        if np.isfinite(one[f"{opt}_opt"]):
            left.plot([float(one[f"{opt}_opt"])], [float(one["key_rate_opt"])], "*", ms=10, color=line.get_color())
    log_y(left)
    left.set(xscale="log", xlabel=axis_label(ds[opt]), ylabel="asymptotic key rate [bit/pulse]",
             title=f"{label}: key rate against {opt} (* optimum)")
    curve, = right.plot(ds[dist], np.where(ds["key_rate_opt"] > 0, ds["key_rate_opt"], np.nan),
                        label="key rate at the optimum")
    log_y(right)
    right.set(xlabel=axis_label(ds[dist]), ylabel="asymptotic key rate [bit/pulse]")
    twin = right.twinx()
    dashed, = twin.plot(ds[dist], ds[f"{opt}_opt"], ls="--", color="tab:orange", label=f"optimal {opt}")
    twin.set(ylabel=axis_label(ds[f"{opt}_opt"]))
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    right.legend(handles=[curve, dashed], fontsize=8)
    fig.tight_layout()
    return fig
