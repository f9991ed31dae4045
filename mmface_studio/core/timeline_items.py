"""Small immutable timeline items of a project: markers and head-pose lock ranges."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class ItemError(ValueError):
    """A marker or lock range is invalid; the message is user-facing."""


def _seconds(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ItemError(f"{what} must be a number of seconds, got {value!r}.") from None
    if not math.isfinite(number) or number < 0:
        raise ItemError(f"{what} must be a finite time >= 0 seconds, got {value!r}.")
    return number


@dataclass(frozen=True, order=True)
class Marker:
    """A labelled point on the timeline (a cue for the animator, exported as a marker/event)."""

    time: float
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", _seconds(self.time, "A marker's time"))
        if not isinstance(self.label, str):
            raise ItemError(f"A marker's label must be text, got {type(self.label).__name__}.")


@dataclass(frozen=True, order=True)
class LockRange:
    """A time range (seconds) whose head pose survives a re-sample unchanged.

    Iterable as ``(start, end)``, so ``GenerationRequest(locks=project.locks)`` accepts it
    directly (the engine turns each pair into its own ``PoseLock``); the document keeps its own
    type because ``core`` must not import the engine.
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        start = _seconds(self.start, "A pose lock's start")
        end = _seconds(self.end, "A pose lock's end")
        if end <= start:
            raise ItemError(f"A pose lock needs start < end, got {start:g}..{end:g} s.")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def __iter__(self) -> Iterator[float]:
        yield self.start
        yield self.end

    def contains(self, time: float) -> bool:
        return self.start <= time <= self.end
