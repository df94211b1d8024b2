"""Compose the Hydra config exactly as the command line does, with one-line errors."""
from __future__ import annotations

import math
import re

from kqjax.config.errors import ConfigError
from kqjax.engine.params import conf_dir  # also imported from here (cli, tests)

DEFAULT_CONFIG = "config"
SWEEP_FORMS = ("a list [a,b,...], linspace:start:stop:num, logspace:start_exp:stop_exp:num, "
               "geomspace:start:stop:num or arange:start:stop[:step]")
"""What a sweep inside one run may be written as (the forms of :func:`kqjax.engine.grid.parse_values`)."""


def compose(overrides=(), config_name: str = DEFAULT_CONFIG, hydra_config: bool = False):
    """Compose ``config_name`` with ``overrides``; Hydra's errors become :class:`ConfigError`."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = list(overrides)
    check_group_lists(overrides)
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="kqjax"):
            return hydra_compose(config_name=config_name, overrides=overrides,
                                 return_hydra_config=hydra_config)
    except Exception as err:  # Hydra raises several types; all are the user's input
        raise translate(err, overrides, config_name) from None
    finally:
        GlobalHydra.instance().clear()


def translate(err: Exception, overrides, config_name: str) -> ConfigError:
    """One line from a Hydra/OmegaConf composition error."""
    text = str(err)
    m = re.search(r"Could not override '([^']+)'", text)
    if m:
        key = m.group(1)
        value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key), "")
        parent, _, leaf = key.rpartition(".")
        allowed = _keys_of(parent, [o for o in overrides if o.split("=", 1)[0] != key], config_name)
        tail = f"; allowed: {', '.join(allowed)}" if allowed else ""
        if "." in parent and "kind" in _keys_of(parent, [o for o in overrides if not o.split("=", 1)[0].lstrip(
                "+~").startswith(parent + ".")], config_name):  # a nested block with a kind (a fading)
            from kqjax.config.build import replace_hint

            tail += replace_hint(parent)
        return ConfigError(key, value, message=f"{key}={value}: unknown option{tail}")
    m = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    if m:
        group, name = m.groups()
        avail = re.findall(r"^\t(\S+)$", text, re.M)
        tail = f"; available: {', '.join(avail)}" if avail else ""
        if config_name and group == "" and name == config_name:
            return ConfigError("--config-name", name, message=f"--config-name={name}: no such config")
        return ConfigError(group, name, message=f"{group}={name}: unknown option{tail}")
    m = re.search(r"Cannot find primary config '([^']+)'", text)
    if m:
        return ConfigError("--config-name", m.group(1), message=f"--config-name={m.group(1)}: no such config")
    m = re.search(r"(?:Error parsing override|Ambiguous value for argument|Sweep parameters) '([^'=]+)=([^']*)'",
                  text)
    if m:  # Hydra's override grammar: name the override, say how to write it
        key, value = m.group(1).lstrip("+~"), m.group(2)
        fn = re.match(r"\s*(linspace|logspace|geomspace|arange)\s*\((.*)\)\s*$", value)
        other = re.match(r"\s*([A-Za-z_]\w*)\s*\(", value)
        if fn:
            colon = ":".join(a.strip() for a in fn.group(2).split(","))
            why = f"write {fn.group(1)}:{colon} (Hydra reads unquoted parentheses as its own functions)"
        elif other and "Unknown function" in text:
            why = f"no range '{other.group(1)}'; a sweep is {SWEEP_FORMS}"
        elif "Ambiguous value" in text or "requires --multirun" in text:
            why = "a sweep across runs needs -m; to sweep inside one run write a list [a,b,...] or a range"
        else:
            why = next((ln.split(": ", 1)[-1] for ln in text.splitlines()[1:2]), "cannot parse it")
        return ConfigError(key, value, message=f"{key}={value}: {why}")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    m = re.search(r"at input '([^']+)'", first)
    bad = next((o for o in overrides if m and m.group(1) in o and "=" in o), None)
    if bad:
        key, _, value = bad.partition("=")
        return ConfigError(key.lstrip("+~"), value, message=f"{key.lstrip('+~')}={value}: cannot parse it ({first})")
    return ConfigError("override", message=f"cannot apply overrides {' '.join(overrides)}: {first}")


def _keys_of(parent: str, overrides, config_name: str) -> list[str]:
    try:
        cfg = compose(overrides, config_name)
    except ConfigError:
        return []
    node = cfg
    for part in filter(None, parent.split(".")):
        node = node.get(part) if hasattr(node, "get") else None
        if node is None:
            return []
    return [str(k) for k in node.keys()] if hasattr(node, "keys") else []


MAX_JOBS = 10_000
"""Jobs of one multirun at most (each is composed and checked before any work)."""


def expand_multirun(overrides) -> list[list[str]]:
    """Every job's overrides of a basic-sweeper multirun (``a=1,2 b=x,y`` -> 4 jobs; a glob over a
    group's presets as the list of those it matches); more than ``MAX_JOBS`` are refused, counted
    before they are listed."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    parsed = _parse(_globs_listed(_parse(overrides)))
    last = {o.get_key_element(): o for o in parsed}  # Hydra sweeps the last of a key given twice
    sizes = [(o, n) for o in last.values() if o.is_sweep_override() and (n := sweep_size(o)) is not None]
    jobs = math.prod(n for _, n in sizes)
    largest = max(sizes, key=lambda on: on[1], default=(None, 0))
    if jobs > MAX_JOBS or largest[1] > MAX_JOBS:  # one sweep alone: also when another is empty
        key = largest[0].get_key_element().lstrip("+~")
        what = (f"a multirun of {jobs:,} jobs" if jobs > MAX_JOBS
                else f"{largest[0].input_line} alone has {largest[1]:,} values")
        raise ConfigError("override", message=(
            f"{' '.join(o.input_line for o, _ in sizes)}: {what}; at most {MAX_JOBS:,} jobs "
            f"(sweep {key} inside one run instead: {key}=linspace:start:stop:num or a list [a,b,...])"))
    try:
        batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    except Exception as err:  # e.g. range(0,10,0) (ValueError, or Hydra's own for a float step)
        bad = next((o for o in parsed if o.is_sweep_override() and _expands_badly(o)), None)
        if bad is None:
            raise ConfigError("override", message=f"cannot expand the sweeps {' '.join(overrides)}: {err}") from None
        key = bad.get_key_element().lstrip("+~")
        raise ConfigError(key, bad.get_value_string(),
                          message=f"{key}={bad.get_value_string()}: {err}") from None
    return [list(job) for batch in batches for job in batch]


def _parse(overrides) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as err:
        raise translate(err, overrides, DEFAULT_CONFIG) from None


def _globs_listed(parsed) -> list[str]:
    """The overrides as text, each glob (``detector=glob(*)``) replaced by the presets of its
    group it matches, in Hydra's order (``detector=gys,ingaas,snspd``)."""
    from hydra.core.override_parser.types import Glob

    out = []
    for o in parsed:
        if not isinstance(o.value(), Glob):
            out.append(o.input_line)
            continue
        key, text = o.get_key_element().lstrip("+~"), o.get_value_string()
        folder = conf_dir() / o.key_or_group.split("@")[0]
        presets = sorted(p.stem for p in folder.glob("*.yaml"))
        if not presets:
            raise ConfigError(key, text, message=f"{key}={text}: glob() chooses among the presets of a config "
                                                 f"group, and {key} is not one")
        names = o.value().filter(presets)
        if not names:
            raise ConfigError(key, text, message=f"{key}={text}: matches none of {', '.join(presets)}")
        out.append(f"{o.input_line.split('=', 1)[0]}={','.join(names)}")
    return out


def sweep_size(override) -> int | None:
    """Values of a sweep override: a choice's, or a range's (listed by Hydra itself up to
    ``MAX_JOBS + 1`` values, whose float ranges step in decimals; beyond that its estimate, off by
    one at most); None for a range Hydra cannot list (step 0: Hydra's own error says why) or
    another kind. A range with an infinite or undefined end or step, or of more values than a
    float counts, is refused."""
    from hydra.core.override_parser.types import ChoiceSweep, RangeSweep

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return len(value.list)
    if not isinstance(value, RangeSweep):
        return None
    key, text = override.get_key_element().lstrip("+~"), override.get_value_string()
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (value.start, value.stop, value.step)):
        raise ConfigError(key, text, message=f"{key}={text}: a range needs a finite start, stop and step")
    if value.step == 0:
        return None
    ratio = (float(value.stop) - float(value.start)) / float(value.step)
    if not math.isfinite(ratio):
        raise ConfigError(key, text, message=f"{key}={text}: more values than a multirun's {MAX_JOBS:,} jobs")
    estimate = math.ceil(ratio)
    return estimate if estimate > MAX_JOBS + 1 else len(list(override.sweep_string_iterator()))


def _expands_badly(override) -> bool:
    """Whether Hydra fails to list the values of a sweep override."""
    try:
        list(override.sweep_string_iterator())
    except Exception:  # Hydra raises several types
        return True
    return False


def check_group_lists(overrides) -> None:
    """Refuse a list given for a config group (``detector=[snspd,gys]``): Hydra would merge the
    presets silently; running each one is a multirun (``-m detector=snspd,gys``)."""
    if not any("=[" in o for o in overrides):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception:
        return  # composing reports it
    for o in parsed:
        group = o.key_or_group
        if o.is_hydra_override() or o.is_delete() or not (conf_dir() / group).is_dir():
            continue
        value = o.value()
        if isinstance(value, list):
            key = o.get_key_element().lstrip("+~")
            shown = o.get_value_string()
            each = ",".join(o._get_value_element_as_str(v) for v in value)
            raise ConfigError(key, shown, message=f"{key}={shown}: a config group takes one preset; "
                                                  f"to run each of them write -m {key}={each}")


def check_new_keys(overrides, config_name: str = DEFAULT_CONFIG) -> None:
    """Refuse a top-level key that the config does not have, added with ``+`` (``+foo=bar``),
    unless it is ``hydra.*``: nothing would read it."""
    adds = []
    for o in overrides:
        key, _, value = o.partition("=")
        if not key.startswith("+"):
            continue
        key = key.lstrip("+")
        name, _, package = key.partition("@")
        top = re.split(r"[./]", package or name)[0]
        if top and top != "hydra" and not top.startswith("_"):
            adds.append((o, key, value, top))
    if not adds:
        return
    try:
        known = list(compose([o for o in overrides if o not in {a[0] for a in adds}], config_name).keys())
    except ConfigError:
        return  # the overrides need each other: composing with all of them is what was checked
    for _, key, value, top in adds:
        if top not in known:
            raise ConfigError(top, value, message=f"{key}={value}: unknown option {top}; "
                                                  f"allowed: {', '.join(map(str, known))}")


def explain_sweep(err: ConfigError) -> ConfigError:
    """A numeric field given a word with colons or parentheses (``lnspace:0:250:51``, a typo in a
    range): the same line, naming the forms a sweep may take."""
    value = err.value
    if not isinstance(value, str) or not str(err.allowed).startswith(("a number", "an integer")) \
            or "; or a sweep: " in str(err):
        return err
    m = re.match(r"\s*([A-Za-z_]\w*)\s*[:(]", value)
    if not m:
        return err
    return ConfigError(err.field, value, err.allowed,
                       message=f"{err}; or a sweep: {SWEEP_FORMS} (no range '{m.group(1)}')")
