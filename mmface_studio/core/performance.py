"""The ``Performance`` type passed between engine, document, rigs and exporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmface_studio.core.spaces import ParameterSpace, SpaceError, space_by_name


@dataclass
class Performance:
    """Dense per-frame channel values in one parameter space.

    ``values`` is channels x frames (float32), in the space's channel order,
    so a frame is a contiguous column slice and a channel curve a row.
    ``provenance`` records how it was made (engine, checkpoint, seed, inputs)
    so that a result can be reproduced or explained later.
    """

    fps: float
    space: ParameterSpace
    values: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.space, str):
            self.space = space_by_name(self.space)
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        if self.values.ndim != 2 or self.values.shape[0] != len(self.space):
            raise SpaceError(
                f"A {self.space.name} performance needs {len(self.space)} x frames values, "
                f"got shape {self.values.shape}."
            )
        if not (np.isfinite(self.fps) and 1.0 <= self.fps <= 1000.0):
            raise SpaceError(f"Frame rate must be between 1 and 1000 fps, got {self.fps}.")
        if not np.all(np.isfinite(self.values)):
            raise SpaceError("Performance values contain NaN or infinity.")

    @property
    def frame_count(self) -> int:
        return int(self.values.shape[1])

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps

    def frame(self, index: int) -> np.ndarray:
        """Channel vector at ``index`` (clamped to the valid range)."""
        i = min(max(int(index), 0), self.frame_count - 1)
        return self.values[:, i]

    def curve(self, name: str) -> np.ndarray:
        return self.values[self.space.index[name]] if name in self.space else self._missing(name)

    def _missing(self, name: str) -> np.ndarray:
        raise SpaceError(f"'{name}' is not a channel of the {self.space.name} space.")

    def frame_at_time(self, seconds: float) -> int:
        return min(max(int(round(seconds * self.fps)), 0), max(self.frame_count - 1, 0))
