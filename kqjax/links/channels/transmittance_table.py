"""A channel given as a time series: a measured pass, or another tool's loss table.

A CSV file (``path``) with a header row: column ``time_s`` (strictly increasing) and either
``transmittance`` (in [0, 1]) or ``loss_db`` (>= 0), not both; other columns (e.g.
``elevation_deg``) are ignored; every row has as many fields as the header; blank lines and lines
starting with ``#`` are skipped. The transmittance at time t interpolates ln(eta) linearly between
the rows (a loss in dB linear in time between them); before the first and after the last row the
link is down (transmittance 0). An optional ``fading`` factor multiplies it.
"""
from __future__ import annotations

import csv
import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, data_file, param, part
from kqjax.links.base import Channel, Factor, db_to_nepers

DOWN = -1.0e4
"""ln(eta) outside the table: the link is down (exp(-1e4) is 0 in float64)."""


class TableError(ValueError):
    """A table that cannot be read: the message names the file and the line."""


def read_table(path) -> dict:
    """``{"time_s": [T], "log_eta": [T]}`` from the CSV at ``path`` (a relative path is also looked
    up in kqjax's conf/: ``data/satquma_fs_loss_xi0.csv``); TableError names the file's line."""
    path = data_file(path)
    if path.is_dir():
        raise TableError("a directory, not a file")
    if not path.is_file():
        raise TableError("no such file")
    with path.open(newline="") as f:
        kept = [(n, text) for n, text in enumerate(f, start=1)
                if text.strip() and not text.lstrip().startswith("#")]
    if not kept:
        raise TableError("empty")
    numbers = [n for n, _ in kept]
    rows = [next(csv.reader([text]), []) for _, text in kept]
    head = [h.strip() for h in rows[0]]
    value = next((c for c in ("transmittance", "loss_db") if c in head), None)
    if "time_s" not in head or value is None:
        raise TableError(f"line {numbers[0]}: needs the columns time_s and transmittance or loss_db; "
                         f"has {', '.join(head)}")
    if "transmittance" in head and "loss_db" in head:
        raise TableError(f"line {numbers[0]}: has both transmittance and loss_db columns; give one of them")
    it, iv = head.index("time_s"), head.index(value)
    times, values = [], []
    for line, row in zip(numbers[1:], rows[1:]):
        if len(row) != len(head):
            raise TableError(f"line {line}: {len(row)} fields ({','.join(row)}); the header has {len(head)}")
        try:
            t, v = float(row[it]), float(row[iv])
        except (ValueError, IndexError):
            raise TableError(f"line {line}: cannot read time_s and {value} from {','.join(row)}") from None
        if not (math.isfinite(t) and math.isfinite(v)):
            raise TableError(f"line {line}: time_s and {value} must be finite numbers")
        if times and t <= times[-1]:
            raise TableError(f"line {line}: time_s={t:g} must be > {times[-1]:g} (increasing)")
        if value == "transmittance" and not 0.0 <= v <= 1.0:
            raise TableError(f"line {line}: transmittance={v:g} must be in [0, 1]")
        if value == "loss_db" and v < 0.0:
            raise TableError(f"line {line}: loss_db={v:g} must be >= 0")
        times.append(t)
        values.append(v)
    if len(times) < 2:
        raise TableError("needs at least two rows")
    v = np.asarray(values)
    if value == "transmittance":
        with np.errstate(divide="ignore"):
            log_eta = np.maximum(np.log(v), DOWN)
    else:
        log_eta = db_to_nepers(v)
    return {"time_s": np.asarray(times), "log_eta": log_eta}


@component("factor", "table_loss")
class TableLoss(Factor):
    """ln(eta) interpolated linearly in time between the rows of a table; DOWN outside it."""

    time_s: object = None
    log_eta: object = None

    time_varying = True

    def log_gain(self, t):
        return jnp.interp(t, self.time_s, self.log_eta, left=DOWN, right=DOWN)


@component("channel", "transmittance_table")
class TransmittanceTable(Channel):
    path: str = param("", text="a file path", long_name="CSV file: time_s and transmittance or loss_db")
    fading: Factor = part("fading", "none")
    time_s: object = dataclasses.field(default=None, metadata={"data": True})
    log_eta: object = dataclasses.field(default=None, metadata={"data": True})

    @staticmethod
    def load(values: dict) -> dict:
        """The table's arrays for the configured ``path`` (raises TableError)."""
        return read_table(values["path"])

    def factors(self):
        return (TableLoss(self.time_s, self.log_eta), self.fading)

    def span_s(self):
        """Time of the table's last row, s: a run of ``f`` pulses a second covers all of it with
        ``f span_s()`` pulses (``run.pulses``)."""
        return jnp.asarray(self.time_s)[..., -1]
