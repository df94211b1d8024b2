"""Parameters of physical components: defaults, bounds, units and a registry by config group.

A component is a frozen dataclass whose fields are declared with :func:`param`. The metadata
(bounds, unit, long name, allowed choices) is the single source for configuration checking,
dataset labels and optimiser reparameterisation. :func:`component` registers the class as a
JAX pytree (static fields stay out of tracing) and under ``(group, kind)`` so that a config
``channel: {kind: fiber, ...}`` builds it without executing arbitrary callables. :func:`preset`
builds a component from its config file ``conf/<group>/<name>.yaml`` (plain YAML, no Hydra), the single
source of the named presets.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

_REGISTRY: dict[str, dict[str, type]] = {}


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a parameter may be: numeric bounds, or a set of choices for a static field."""

    unit: str = "1"
    long_name: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple | None = None
    static: bool = False
    integer: bool = False
    text: str = ""  # a free text field: what it holds ("a file path", "a UTC time")

    @staticmethod
    def _num(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"

    def allowed(self) -> str:
        if self.text:
            return self.text
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        kind = "an integer" if self.integer else "a number"
        if self.lo == -math.inf and self.hi == math.inf:
            return kind
        if self.hi == math.inf:
            return f"{kind} {'>' if self.lo_open else '>='} {self._num(self.lo)}"
        if self.lo == -math.inf:
            return f"{kind} {'<' if self.hi_open else '<='} {self._num(self.hi)}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{kind} in {left}{self._num(self.lo)}, {self._num(self.hi)}{right}"

    def check(self, value: Any) -> str | None:
        """Return None if ``value`` is allowed, else a short reason."""
        if self.text:
            return None if isinstance(value, str) and value else self.allowed()
        if self.choices is not None:
            return None if value in self.choices else self.allowed()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.allowed()
        v = float(value)
        if math.isnan(v) or (self.integer and (math.isinf(v) or v != int(v))):
            return self.allowed()
        if v < self.lo or (self.lo_open and v == self.lo):
            return self.allowed()
        if v > self.hi or (self.hi_open and v == self.hi):
            return self.allowed()
        return None


def param(default: Any, *, unit: str = "1", long_name: str = "", ge: float | None = None,
          gt: float | None = None, le: float | None = None, lt: float | None = None,
          choices: tuple | None = None, static: bool = False, integer: bool = False, text: str = "") -> Any:
    """Declare a component field with its default, bounds and unit."""
    spec = Spec(
        unit=unit,
        long_name=long_name,
        lo=-math.inf if ge is None and gt is None else (gt if gt is not None else ge),
        hi=math.inf if le is None and lt is None else (lt if lt is not None else le),
        lo_open=gt is not None,
        hi_open=lt is not None,
        choices=choices,
        static=static or choices is not None or bool(text),
        integer=integer,
        text=text,
    )
    return dataclasses.field(default=default, metadata={"spec": spec, "static": spec.static})


def part(group: str, default: str) -> Any:
    """Declare a field holding another component of ``group`` (a nested config block with its own
    ``kind``), ``default`` being the kind used when the config gives none."""
    return dataclasses.field(default_factory=lambda: registry(group)[default](),
                             metadata={"part": group, "default_kind": default, "static": False})


def parts(cls: type) -> dict[str, dataclasses.Field]:
    """The fields of ``cls`` declared with :func:`part`."""
    return {f.name: f for f in dataclasses.fields(cls) if "part" in f.metadata}


def get_path(components: dict, path: str):
    """The component or value at a dotted ``path`` (``channel.fading.sigma``) of ``components``."""
    head, *rest = path.split(".")
    node = components[head]
    for name in rest:
        node = getattr(node, name)
    return node


def set_path(components: dict, path: str, value) -> dict:
    """A copy of ``components`` with the component at dotted ``path`` replaced by ``value``."""
    head, *rest = path.split(".")
    out = dict(components)
    if not rest:
        out[head] = value
        return out

    def put(node, names):
        if len(names) == 1:
            return dataclasses.replace(node, **{names[0]: value})
        return dataclasses.replace(node, **{names[0]: put(getattr(node, names[0]), names[1:])})

    out[head] = put(components[head], rest)
    return out


def specs(cls: type) -> dict[str, Spec]:
    """The :class:`Spec` of every declared field of a component class."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata}


def component(group: str, kind: str) -> Callable[[type], type]:
    """Class decorator: frozen dataclass + pytree + registry entry ``(group, kind)``."""

    def wrap(cls: type) -> type:
        if "__dataclass_fields__" not in cls.__dict__:  # a subclass of a dataclass needs its own
            cls = dataclasses.dataclass(frozen=True)(cls)
        data, meta = [], []
        for f in dataclasses.fields(cls):
            (meta if f.metadata.get("static", False) else data).append(f.name)
        import jax

        jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
        cls.group, cls.kind = group, kind
        _REGISTRY.setdefault(group, {})[kind] = cls
        return cls

    return wrap


def registry(group: str | None = None) -> dict:
    """Registered component classes, all groups or one group's ``{kind: class}``."""
    return _REGISTRY if group is None else _REGISTRY.get(group, {})


def conf_dir() -> Path:
    """The shipped configs: ``kqjax/conf`` in a wheel, ``<repo>/conf`` in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "conf", here.parent / "conf"):
        if (cand / "config.yaml").is_file():
            return cand
    raise FileNotFoundError(f"kqjax configs not found next to {here}")


def data_file(path) -> Path:
    """``path`` as given, or, when no such file exists, relative to the shipped configs
    (``data/cn2_hv57.csv`` names ``<conf_dir>/data/cn2_hv57.csv`` from any working directory)."""
    path = Path(path)
    if not path.is_file() and not path.is_absolute() and (conf_dir() / path).is_file():
        return conf_dir() / path
    return path


def preset(group: str, name: str, kind: str | None = None) -> Any:
    """The component of config file ``<conf_dir>/<group>/<name>.yaml``, read with PyYAML (no Hydra).

    The file's ``kind`` picks the class ``registry(group)[kind]`` (its module must have been imported);
    every other key is a field: numeric fields become floats (PyYAML reads ``1e-6`` as a string), a
    nested block of a :func:`part` field is built the same way, choices and text are kept as written.
    With ``kind`` given, only files of that kind are presets. An unknown ``name`` (or a file of another
    kind) raises ``ValueError`` naming the available presets.
    """
    import yaml

    folder = conf_dir() / group

    def kind_of(path: Path):
        node = yaml.safe_load(path.read_text())
        return node.get("kind") if isinstance(node, dict) else None

    def available() -> str:
        names = sorted(p.stem for p in folder.glob("*.yaml") if kind is None or kind_of(p) == kind)
        return ", ".join(names) if names else "(none)"

    what = f"{group} preset" if kind is None else f"{kind} preset"
    path = folder / f"{name}.yaml"
    if not isinstance(name, str) or "/" in name or "\\" in name or not path.is_file():
        raise ValueError(f"{what} {name!r} is unknown: choose one of {available()}")
    node = yaml.safe_load(path.read_text())
    if not isinstance(node, dict) or "kind" not in node:
        raise ValueError(f"{path}: not a component config (a mapping with a kind)")
    node = dict(node)
    file_kind = node.pop("kind")
    if kind is not None and file_kind != kind:
        raise ValueError(f"{what} {name!r} is unknown ({path.name} is of kind {file_kind}): "
                         f"choose one of {available()}")

    def build(grp: str, knd, values: dict, where: str):
        cls = registry(grp).get(knd)
        if cls is None:
            raise ValueError(f"{where}: kind {knd!r} is not a registered {grp} "
                             f"(registered: {', '.join(registry(grp)) or 'none'})")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [k for k in values if k not in fields]
        if unknown:
            raise ValueError(f"{where}: {cls.__name__} has no field {', '.join(map(repr, unknown))}")
        kwargs = {}
        for key, value in values.items():
            f = fields[key]
            if value == "???":  # OmegaConf's mandatory value: the preset leaves it to the user
                raise ValueError(f"{where}: {key} has no value (??? in the file): set it")
            if "part" in f.metadata:
                sub = dict(value or {})
                kwargs[key] = build(f.metadata["part"], sub.pop("kind", f.metadata["default_kind"]), sub,
                                    f"{where}.{key}")
            elif "spec" in f.metadata and not f.metadata["spec"].static:
                try:
                    if isinstance(value, bool):
                        raise TypeError
                    kwargs[key] = float(value)
                except (TypeError, ValueError):
                    raise ValueError(f"{where}.{key} = {value!r}: not a number") from None
            else:
                kwargs[key] = value
        return cls(**kwargs)

    return build(group, file_kind, node, str(path))
