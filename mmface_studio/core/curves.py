"""Keyframe curves for the edit layers: keys in seconds, sampled at frame times in one numpy pass.

A curve holds the offset an animator adds on top of one channel of the generated base
performance. Keys are addressed by their time (unique within a curve, like emotion keys), because
a key's index changes whenever a drag moves it past a neighbour while its time is what the
timeline shows and what the user grabbed.

Interpolation is a property of the segment *leaving* a key (the emotion track uses the same rule):

- ``"linear"``: straight line to the next key;
- ``"smooth"``: cubic Hermite between this key's out-tangent and the next key's in-tangent;
- ``"step"``: hold this key's value until the next key.

Tangents are slopes in value units per second. ``None`` means *auto*: the slope through the two
neighbours (Catmull-Rom with uneven spacing), flattened to 0 at the ends and where the key is a
local peak or valley, so auto curves never overshoot a key the animator set as an extreme.
Before the first key the first value holds, after the last the last value holds; an empty curve
is 0 everywhere (no offset).

Curves and keys are immutable: an edit makes a new curve, so an undo command can keep the old one
as is and the document can compare old and new to fire events only on a real change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np

KEY_INTERPOLATIONS: tuple[str, ...] = ("linear", "smooth", "step")
#: Two keys closer than this (seconds) are the same key.
TIME_TOLERANCE = 1e-6


class CurveError(ValueError):
    """A key or curve edit is invalid; the message is shown to the user as is."""


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CurveError(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise CurveError(f"{what} must be finite, got {value!r}.")
    return number


@dataclass(frozen=True)
class CurveKey:
    """One key: ``value`` at ``time`` seconds; tangents ``None`` = auto."""

    time: float
    value: float
    interpolation: str = "smooth"
    in_tangent: float | None = None
    out_tangent: float | None = None

    def __post_init__(self) -> None:
        t = _number(self.time, "A key's time")
        if t < 0:
            raise CurveError(f"A key's time must be >= 0 seconds, got {t:g}.")
        object.__setattr__(self, "time", t)
        object.__setattr__(self, "value", _number(self.value, "A key's value"))
        if self.interpolation not in KEY_INTERPOLATIONS:
            raise CurveError(f"Unknown interpolation {self.interpolation!r}; use one of "
                             f"{', '.join(KEY_INTERPOLATIONS)}.")
        for name in ("in_tangent", "out_tangent"):
            slope = getattr(self, name)
            if slope is not None:
                object.__setattr__(self, name, _number(slope, "A tangent"))

    def moved(self, dt: float = 0.0, dv: float = 0.0) -> CurveKey:
        return replace(self, time=self.time + dt, value=self.value + dv)

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "value": self.value, "interpolation": self.interpolation,
                "in_tangent": self.in_tangent, "out_tangent": self.out_tangent}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CurveKey:
        return cls(data["time"], data["value"], data.get("interpolation", "smooth"),
                   data.get("in_tangent"), data.get("out_tangent"))


@dataclass(frozen=True)
class Curve:
    """Keys sorted by time (at most one per ``TIME_TOLERANCE``); sampled with :meth:`sample`."""

    keys: tuple[CurveKey, ...] = ()

    def __post_init__(self) -> None:
        keys = tuple(sorted(self.keys, key=lambda k: k.time))
        for a, b in pairwise(keys):
            if b.time - a.time < TIME_TOLERANCE:
                raise CurveError(f"Two keys at {a.time:g} s on one curve; a curve has one key per time.")
        object.__setattr__(self, "keys", keys)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def times(self) -> tuple[float, ...]:
        return tuple(k.time for k in self.keys)

    def find(self, time: float) -> int:
        """Index of the key at ``time`` (within ``TIME_TOLERANCE``); ``CurveError`` if there is none."""
        index = self.index_at(time)
        if index is None:
            raise CurveError(f"There is no key at {float(time):g} s on this curve.")
        return index

    def index_at(self, time: float) -> int | None:
        if not self.keys:
            return None
        times = self._arrays[0]
        i = int(np.searchsorted(times, float(time) - TIME_TOLERANCE))
        if i < times.size and abs(times[i] - float(time)) < TIME_TOLERANCE:
            return i
        return None

    def key_at(self, time: float) -> CurveKey:
        return self.keys[self.find(time)]

    # --- edits: each returns a new curve ----------------------------------------------------------

    def with_key(self, key: CurveKey, *, replace_existing: bool = False) -> Curve:
        """Add ``key``; a key already at its time is an error unless ``replace_existing``."""
        index = self.index_at(key.time)
        if index is not None and not replace_existing:
            raise CurveError(f"There is already a key at {key.time:g} s.")
        rest = [k for i, k in enumerate(self.keys) if i != index]
        return Curve((*rest, key))

    def without(self, times: Iterable[float]) -> Curve:
        drop = {self.find(t) for t in times}
        return Curve(tuple(k for i, k in enumerate(self.keys) if i not in drop))

    def replaced(self, time: float, key: CurveKey) -> Curve:
        """The key at ``time`` replaced by ``key`` (which may have another time)."""
        index = self.find(time)
        rest = [k for i, k in enumerate(self.keys) if i != index]
        if any(abs(k.time - key.time) < TIME_TOLERANCE for k in rest):
            raise CurveError(f"There is already a key at {key.time:g} s.")
        return Curve((*rest, key))

    def moved(self, times: Sequence[float], dt: float, dv: float = 0.0) -> Curve:
        """Keys at ``times`` shifted by ``dt`` seconds and ``dv`` in value.

        Landing on a key that is not moved is an error rather than silently overwriting it: an
        overwrite in the middle of a drag would lose the key even if the drag ends elsewhere.
        """
        picked = {self.find(t) for t in times}
        moved = [k.moved(dt, dv) if i in picked else k for i, k in enumerate(self.keys)]
        try:
            return Curve(tuple(moved))
        except CurveError:
            raise CurveError("Moved keys would land on another key.") from None

    # --- sampling ----------------------------------------------------------------------------------

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """times, values, out slopes, in slopes, segment modes (index into KEY_INTERPOLATIONS)."""
        t = np.array([k.time for k in self.keys], dtype=np.float64)
        v = np.array([k.value for k in self.keys], dtype=np.float64)
        auto = auto_tangents(t, v)
        out = np.array([auto[i] if k.out_tangent is None else k.out_tangent for i, k in enumerate(self.keys)])
        inn = np.array([auto[i] if k.in_tangent is None else k.in_tangent for i, k in enumerate(self.keys)])
        modes = np.array([KEY_INTERPOLATIONS.index(k.interpolation) for k in self.keys], dtype=np.int8)
        return t, v, out.astype(np.float64), inn.astype(np.float64), modes

    def resolved_tangents(self, time: float) -> tuple[float, float]:
        """(in, out) slope actually used at the key at ``time``, auto ones computed (for tangent handles)."""
        i = self.find(time)
        _, _, out, inn, _ = self._arrays
        return float(inn[i]), float(out[i])

    def sample(self, times: np.ndarray | Sequence[float]) -> np.ndarray:
        """Curve values at ``times`` seconds as float64, vectorised over all times."""
        x = np.asarray(times, dtype=np.float64)
        if not self.keys:
            return np.zeros(x.shape)
        t, v, out, inn, modes = self._arrays
        if t.size == 1:
            return np.full(x.shape, v[0])
        seg = np.clip(np.searchsorted(t, x, side="right") - 1, 0, t.size - 2)
        t0, t1 = t[seg], t[seg + 1]
        h = t1 - t0
        u = np.clip((x - t0) / h, 0.0, 1.0)
        v0, v1 = v[seg], v[seg + 1]
        u2, u3 = u * u, u * u * u
        hermite = ((2 * u3 - 3 * u2 + 1) * v0 + (u3 - 2 * u2 + u) * h * out[seg]
                   + (-2 * u3 + 3 * u2) * v1 + (u3 - u2) * h * inn[seg + 1])
        mode = modes[seg]
        result = np.where(mode == 1, hermite, v0 + (v1 - v0) * u)
        result = np.where((mode == 2) & (u < 1.0), v0, result)
        return result

    def to_json(self) -> list[dict[str, Any]]:
        return [k.to_json() for k in self.keys]

    @classmethod
    def from_json(cls, data: Sequence[dict[str, Any]]) -> Curve:
        return cls(tuple(CurveKey.from_json(k) for k in data))


def auto_tangents(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Auto-clamped slopes: neighbour secant inside, 0 at the ends and at local extremes."""
    n = times.size
    slopes = np.zeros(n)
    if n < 3:
        return slopes
    before = values[1:-1] - values[:-2]
    after = values[2:] - values[1:-1]
    secant = (values[2:] - values[:-2]) / (times[2:] - times[:-2])
    slopes[1:-1] = np.where(before * after > 0, secant, 0.0)
    return slopes
