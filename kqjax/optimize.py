"""Gradient-based optimisation of the differentiable expected objective, with optax.

Which fields move, and how they stay allowed
--------------------------------------------
The optimiser works on unconstrained numbers ``u``; a :class:`Reparam` maps them onto the
component fields named in ``params`` (``"source.mu"``, ...) using the bounds each field declares
with :func:`kqjax.engine.params.param`:

- two-sided ``[lo, hi]``: ``x = lo + (hi - lo) sigmoid(u)``;
- one-sided: ``x = lo + softplus(u)`` or ``x = hi - softplus(u)``; unbounded: ``x = u``.

Cross-field conditions come from the component class. Fields listed in its ``simplex`` (class
probabilities summing to 1) are a softmax of one logit per optimised field plus one for the fixed
rest, which keeps its internal proportions. Other fields are resolved in declaration order, each
between its own bounds intersected with ``cls.interval(name, values, later)`` (e.g. the decoy
intensity ``nu`` between ``omega`` and ``mu - omega``: a sigmoid fraction of that range). Every
step is therefore a valid configuration: nothing is clipped.

Objective
---------
A task supplies ``objective_samples(name, components, key, n) -> values[n]``: the objective
(e.g. the asymptotic key rate; where there is none, a negative margin such as the GLLP bracket)
at ``n`` fading realisations drawn with ``key`` (one value for a channel that does not fade).
The same key at every
step gives common random numbers, and reparameterised draws make the fading average
differentiable. :func:`statistic` turns the samples into the objective: the mean of the clipped
values (expected key rate over fading), or a quantile (the rate reached in all but a fraction
``q`` of fading realisations: an outage-constrained design). Where no realisation gives any key,
the unclipped values steer the optimiser back to a region with key.

Everything is vectorised: :func:`fit` optimises every point of a sweep grid in one compiled call
(``vmap`` over the flattened grid of a ``lax.scan`` over steps).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from kqjax.engine import keys
from kqjax.engine.params import get_path, set_path, specs

# optax optimisers selectable by name (each takes a learning rate); filtered by what the
# installed optax provides.
_CANDIDATES = (
    "adabelief", "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamaxw", "adamw", "adan",
    "amsgrad", "fromage", "lamb", "lars", "lbfgs", "lion", "nadam", "nadamw", "novograd",
    "optimistic_adam", "optimistic_gradient_descent", "radam", "rmsprop", "rprop", "sgd",
    "sign_sgd", "signum", "sm3", "yogi",
)
OPTIMIZERS = tuple(n for n in _CANDIDATES if callable(getattr(optax, n, None))
                   and "learning_rate" in inspect.signature(getattr(optax, n)).parameters)
DEFAULT_LEARNING_RATE = 0.05
"""Step size when none is configured (lbfgs: none, its zoom line search chooses the step)."""

STATISTICS = ("mean", "quantile", "pooled")
"""mean: E over fading of the rate of each realisation (a key distilled per fading state);
quantile: that rate's q-quantile (outage-constrained design); pooled: the rate of the expected
counts over the fading, E_eta[p(eta)] (one key from all the pulses of a long run: what a long
Monte Carlo converges to, the ``key_rate_asymptotic`` of a simulation)."""
_FRACTION_EPS = 1e-6  # a start on a closed bound begins this fraction of the range inside it


def optimizer_options(name: str) -> dict:
    """``{option: default}`` of the scalar (number/bool) options of ``optax.<name>``."""
    sig = inspect.signature(getattr(optax, name))
    return {k: p.default for k, p in sig.parameters.items()
            if k != "learning_rate" and isinstance(p.default, (bool, int, float, type(None)))
            and p.kind is p.POSITIONAL_OR_KEYWORD and not k.endswith(("mask", "dtype", "seed"))}


@functools.lru_cache(maxsize=64)
def make_optimizer(name: str, learning_rate: float | None = None, **options):
    """``optax.<name>(learning_rate, **options)`` (``name`` must be in :data:`OPTIMIZERS`).

    Cached, so that the same settings give the same object and :func:`fit` reuses its compilation.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; one of {', '.join(OPTIMIZERS)}")
    if learning_rate is None and name != "lbfgs":
        learning_rate = DEFAULT_LEARNING_RATE
    return optax.with_extra_args_support(getattr(optax, name)(learning_rate, **options))


# ----------------------------------------------------------------------------- bijections


def to_interval(u, lo=None, hi=None):
    """Map an unconstrained ``u`` into ``(lo, hi)`` (None: that side is open)."""
    if lo is not None and hi is not None:
        return lo + (hi - lo) * jax.nn.sigmoid(u)
    if lo is not None:
        return lo + jax.nn.softplus(u)
    if hi is not None:
        return hi - jax.nn.softplus(u)
    return u


def from_interval(x, lo=None, hi=None):
    """Inverse of :func:`to_interval`; a value on a closed bound starts just inside it."""
    if lo is not None and hi is not None:
        frac = jnp.clip((x - lo) / (hi - lo), _FRACTION_EPS, 1.0 - _FRACTION_EPS)
        return jnp.log(frac) - jnp.log1p(-frac)
    if lo is not None or hi is not None:
        y = jnp.maximum(x - lo if lo is not None else hi - x, _FRACTION_EPS)
        return y + jnp.log(-jnp.expm1(-y))  # softplus^-1
    return x


def _bounds(spec, extra):
    """Bounds of a field: its declared ones intersected with ``extra`` = (lo | None, hi | None)."""
    lo = None if spec.lo == -math.inf else spec.lo
    hi = None if spec.hi == math.inf else spec.hi
    xlo, xhi = extra
    if xlo is not None:
        lo = xlo if lo is None else jnp.maximum(lo, xlo)
    if xhi is not None:
        hi = xhi if hi is None else jnp.minimum(hi, xhi)
    return lo, hi


# ----------------------------------------------------------------------------- reparameterisation


@dataclasses.dataclass(frozen=True)
class Reparam:
    """Unconstrained ``u`` (a dict of scalars) <-> the optimised fields of a dict of components.

    ``params`` are ``"group.field"`` paths (``group`` may be nested: ``channel.fading.sigma``). ``u`` has one entry per optimised field, plus
    ``"group.<simplex rest>"`` when only part of a simplex is optimised.
    """

    params: tuple[str, ...]

    def _groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.params:
            group, field = p.rsplit(".", 1)
            out.setdefault(group, []).append(field)
        return out

    def _walk(self, comps: dict, u: dict | None):
        """Forward (``u`` given): new components. Inverse (``u`` None): the ``u`` of ``comps``."""
        new_u, new_comps = {}, dict(comps)
        for group, free in self._groups().items():
            comp = get_path(comps, group)
            cls = type(comp)
            fspecs = specs(cls)
            order = [f for f in fspecs if f in free]
            v = {f: getattr(comp, f) for f in fspecs if not fspecs[f].static}
            simplex = tuple(getattr(cls, "simplex", ()))
            in_simplex = [f for f in order if f in simplex]
            if in_simplex:
                rest = [f for f in simplex if f not in in_simplex]
                rest_key = f"{group}.{'+'.join(rest)}"
                rest_total = sum(v[f] for f in rest) if rest else None
                if u is None:
                    for f in in_simplex:
                        new_u[f"{group}.{f}"] = jnp.log(jnp.maximum(v[f], _FRACTION_EPS))
                    if rest:
                        new_u[rest_key] = jnp.log(jnp.maximum(rest_total, _FRACTION_EPS))
                else:
                    logits = [u[f"{group}.{f}"] for f in in_simplex] + ([u[rest_key]] if rest else [])
                    p = jax.nn.softmax(jnp.stack(jnp.broadcast_arrays(*logits), -1), axis=-1)
                    for i, f in enumerate(in_simplex):
                        v[f] = p[..., i]
                    for f in rest:  # the fixed members keep their proportions
                        share = jnp.where(rest_total > 0, v[f] / jnp.where(rest_total > 0, rest_total, 1.0),
                                          1.0 / len(rest))
                        v[f] = p[..., -1] * share
            later = {f for f in order if f not in simplex}
            interval = getattr(cls, "interval", None)
            for f in order:
                if f in simplex:
                    continue
                later.discard(f)
                extra = interval(f, v, frozenset(later)) if interval is not None else (None, None)
                lo, hi = _bounds(fspecs[f], extra)
                if u is None:
                    new_u[f"{group}.{f}"] = from_interval(v[f], lo, hi)
                else:
                    v[f] = to_interval(u[f"{group}.{f}"], lo, hi)
            if u is not None:
                moved = set(free) | (set(simplex) if in_simplex else set())
                new_comps = set_path(new_comps, group, dataclasses.replace(comp, **{f: v[f] for f in moved}))
        return new_u if u is None else new_comps

    def init(self, comps: dict) -> dict:
        """Unconstrained coordinates of the configured components."""
        return {k: jnp.asarray(x, jnp.float64) for k, x in self._walk(comps, None).items()}

    def apply(self, u: dict, comps: dict) -> dict:
        """Components with the optimised fields set from ``u`` (others as in ``comps``)."""
        return self._walk(comps, u)

    def values(self, comps: dict) -> dict:
        """``{path: value}`` of the optimised fields."""
        return {p: get_path(comps, p) for p in self.params}


# ----------------------------------------------------------------------------- objective and loop


def statistic(values, kind: str = "mean", q: float = 0.1):
    """(surrogate to maximise, objective, mean, q-quantile) of objective samples.

    ``values`` are the objective where it is positive; a value <= 0 means none (no key) and
    measures how far from any (a margin that grows towards 0 as the parameters approach the
    region with key). ``mean`` is E[max(v, 0)], ``quantile`` is max(Q_q(v), 0). The surrogate is
    the objective wherever that is positive, and the unclipped statistic (the margin) elsewhere,
    so an optimiser started without key still climbs towards key.
    """
    if values.shape[-1] == 1:  # no fading: every statistic is the one value
        value = values[..., 0]
        clipped = jnp.maximum(value, 0.0)
        return value, clipped, clipped, clipped
    clipped = jnp.maximum(values, 0.0)
    mean = jnp.mean(clipped)
    quant = jnp.quantile(values, q)
    if kind == "mean":
        surrogate = jnp.where(mean > 0, mean, jnp.mean(values))
        objective = mean
    else:
        surrogate, objective = quant, jnp.maximum(quant, 0.0)
    return surrogate, objective, mean, jnp.maximum(quant, 0.0)


def fit(objective_fn, reparam: Reparam, comps: dict, optimizer, steps: int) -> dict:
    """Maximise ``objective_fn(comps) -> (surrogate, objective, mean, quantile)`` at every point.

    ``comps`` have the flattened sweep grid as the leading axis of every leaf. The loss is
    ``-surrogate / |surrogate(start)|`` (the scale makes step sizes mean the same at every grid
    point; it does not move the optimum). Returns numpy arrays with leading axes
    ``[grid, steps + 1]`` (step 0 is the start): ``values`` ({path: array}), ``surrogate``,
    ``objective``, ``mean`` and ``quantile``. The compiled program is cached per
    (objective_fn, reparam, optimizer, steps) and input shapes.
    """
    out = _fit_program(objective_fn, reparam, optimizer, steps)(comps)
    return jax.tree_util.tree_map(np.asarray, out)


@functools.lru_cache(maxsize=32)
def _fit_program(objective_fn, reparam: Reparam, optimizer, steps: int):
    def one(point):
        u0 = reparam.init(point)
        s0 = jax.lax.stop_gradient(jnp.abs(objective_fn(point)[0]))
        scale = jnp.where(s0 > 0, s0, 1.0)

        def loss_aux(u):
            c = reparam.apply(u, point)
            out = objective_fn(c)
            return -out[0] / scale, (reparam.values(c), out)

        def loss(u):
            return loss_aux(u)[0]

        def step(carry, _):
            # Records the point and its objective, then moves; the move after the last record
            # is never used, so the compiled step holds one copy of the objective and gradient.
            u, state = carry
            (value, aux), grad = jax.value_and_grad(loss_aux, has_aux=True)(u)
            updates, state = optimizer.update(grad, state, u, value=value, grad=grad, value_fn=loss)
            return (optax.apply_updates(u, updates), state), aux

        _, (vals, (sur, obj, mean, quant)) = jax.lax.scan(step, (u0, optimizer.init(u0)), None,
                                                          length=steps + 1)
        return {"values": vals, "surrogate": sur, "objective": obj, "mean": mean, "quantile": quant}

    return jax.jit(jax.vmap(one))


def evaluate(objective_fn, comps: dict) -> dict:
    """The objective at every grid point of ``comps`` (no optimisation): numpy arrays [grid]."""
    sur, obj, mean, quant = _evaluate_program(objective_fn)(comps)
    return {"surrogate": np.asarray(sur), "objective": np.asarray(obj), "mean": np.asarray(mean),
            "quantile": np.asarray(quant)}


@functools.lru_cache(maxsize=32)
def _evaluate_program(objective_fn):
    return jax.jit(jax.vmap(objective_fn))


@functools.lru_cache(maxsize=32)
def task_objective(task, name: str, kind: str, q: float, samples: int, seed: int = 0,
                   prng: str = "threefry2x32", pulses: float | None = None, nodes: int | None = None):
    """``comps -> (surrogate, objective, mean, quantile)`` of a task's objective.

    ``task.objective_samples(name, comps, key, samples)`` gives the values at ``samples`` fading
    realisations; the key derives from ``(seed, prng)`` and is the same at every call (common
    random numbers). ``nodes``: quadrature nodes over a run's time window, for objectives of a
    whole pass. Cached, so that equal settings reuse compiled programs.
    """
    key = keys.stream(keys.root_key(seed, prng), "fading")

    extra = {"pooled": True} if kind == "pooled" else {}
    accepts = inspect.signature(task.objective_samples).parameters
    if pulses is not None and "pulses" in accepts:
        extra["pulses"] = float(pulses)  # the expected counts of the run (finite-size estimators)
    if nodes is not None and "nodes" in accepts:
        extra["nodes"] = int(nodes)

    def objective_fn(comps):
        return statistic(task.objective_samples(name, comps, key, samples, **extra), kind, q)

    return objective_fn


def best(trajectory: dict) -> dict:
    """The optimum of each grid point: the step with the largest surrogate.

    Returns ``{"step": [grid], "values": {path: [grid]}, "objective"/"mean"/"quantile": [grid]}``.
    Raises FloatingPointError if any step is not finite (a bug, never a silent result).
    """
    bad = [k for k, v in {**trajectory["values"], "objective": trajectory["surrogate"]}.items()
           if not np.all(np.isfinite(v))]
    if bad:
        raise FloatingPointError(f"optimiser produced non-finite {', '.join(bad)}")
    idx = np.argmax(trajectory["surrogate"], axis=-1)

    def pick(a):
        return np.take_along_axis(a, idx[:, None], axis=-1)[:, 0]

    return {"step": idx, "values": {k: pick(v) for k, v in trajectory["values"].items()},
            **{k: pick(trajectory[k]) for k in ("objective", "mean", "quantile")}}


# ----------------------------------------------------------------------------- a configured run

_RESERVED = ("objective", "objective_opt", "best_step", "step")


def variable_names(params, taken=()) -> dict[str, str]:
    """Dataset name of each optimised field: the field name, or ``group_field`` on a clash."""
    fields = [p.rsplit(".", 1)[1] for p in params]
    clash = set(taken) | set(_RESERVED)
    return {p: (f if fields.count(f) == 1 and f not in clash and f"{f}_opt" not in clash
                else p.replace(".", "_")) for p, f in zip(params, fields)}


def run(task, built, mode: str = "optimize"):
    """Optimise (``mode="optimize"``) or evaluate the task's objective at every grid point.

    ``built.optimize`` holds the checked settings. Returns ``(arrays, variables, attrs)``: numpy
    arrays with the flattened grid first, ``{name: (extra dims, units, long name)}`` and the
    settings to record. No files, no xarray: the caller assembles the dataset.
    """
    s = built.optimize
    comps = built.components
    fading = any(getattr(c, "random", False) for c in comps.values())
    whole_run = s.objective in getattr(task, "POOLED_OBJECTIVES", ())  # one value over fading and time
    n = s.samples if fading and s.statistic != "pooled" and not whole_run else 1
    objective_fn = task_objective(task, s.objective, s.statistic, s.quantile, n, built.run.seed, built.run.prng,
                                  built.run.pulses, s.time_nodes)
    units, long_name = task.OBJECTIVES[s.objective]
    if not fading:
        how = ""
    elif whole_run:
        how = ", expected counts over fading pooled"
    elif s.statistic == "mean":
        how = ", mean over fading"
    elif s.statistic == "pooled":
        how = ", expected counts over fading pooled"
    else:
        how = f", {100 * s.quantile:g} % quantile over fading"

    attrs = {"mode": mode, "objective": s.objective, "statistic": s.statistic, "quantile": s.quantile,
             "fading_samples": n}
    stats = {f"{s.objective}_mean": ("mean", f"{long_name}, mean over fading"),
             f"{s.objective}_quantile": ("quantile", f"{long_name}, {100 * s.quantile:g} % quantile over fading")
             } if n > 1 else {}  # drawn only over fading samples (not for pooled or whole-run objectives)
    if mode == "evaluate":
        out = evaluate(objective_fn, comps)
        arrays = {"objective": out["objective"], **{k: out[src] for k, (src, _) in stats.items()}}
        variables = {"objective": ((), units, long_name + how),
                     **{k: ((), units, text) for k, (_, text) in stats.items()}}
        return arrays, variables, attrs

    reparam = Reparam(tuple(s.params))
    optimizer = make_optimizer(s.optimizer, s.learning_rate, **dict(s.options))
    trajectory = fit(objective_fn, reparam, comps, optimizer, s.steps)
    top = best(trajectory)
    names = variable_names(s.params, taken=[a.name for a in built.grid.axes] + list(stats))
    arrays = {"objective": trajectory["objective"], "objective_opt": top["objective"],
              "best_step": top["step"], **{k: top[src] for k, (src, _) in stats.items()}}
    variables = {"objective": (("step",), units, long_name + how),
                 "objective_opt": ((), units, f"optimal {long_name}{how}"),
                 "best_step": ((), "1", "step of the optimum"),
                 **{k: ((), units, f"{text}, at the optimum") for k, (_, text) in stats.items()}}
    for path, name in names.items():
        group, field = path.rsplit(".", 1)
        spec = specs(type(get_path(comps, group)))[field]
        text = spec.long_name or field
        arrays[name] = trajectory["values"][path]
        arrays[f"{name}_opt"] = top["values"][path]
        variables[name] = (("step",), spec.unit, f"{text} ({path})")
        variables[f"{name}_opt"] = ((), spec.unit, f"optimal {text} ({path})")
    lr = s.learning_rate if s.learning_rate is not None else (
        "line search" if s.optimizer == "lbfgs" else DEFAULT_LEARNING_RATE)
    attrs.update({"optimizer": s.optimizer, "learning_rate": lr, "steps": s.steps,
                  "optimizer_options": ", ".join(f"{k}={v}" for k, v in s.options),
                  "optimized_params": " ".join(s.params), "param_variables": " ".join(names.values())})
    return arrays, variables, attrs
