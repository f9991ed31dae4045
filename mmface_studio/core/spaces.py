"""Named parameter spaces a performance lives in (DESIGN section 1).

A space is an ordered list of channels with ranges and defaults. The order is
part of the contract: a ``Performance`` stores a channels x frames array in
exactly this order, and rigs read vectors in it on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Apple's 52 ARKit blendshape names, in the order ARKit and Live Link Face use.
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)

#: Head and eye rotations (radians) in Live Link Face's naming and order.
ARKIT_POSE_CHANNELS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)

FLAME_EXPRESSION_COUNT = 50


class SpaceError(ValueError):
    """A channel name, vector length or value does not fit a parameter space."""


@dataclass(frozen=True)
class Channel:
    """One named animation channel with its legal range and rest value."""

    name: str
    minimum: float
    maximum: float
    default: float = 0.0
    group: str = ""
    unit: str = ""


@dataclass(frozen=True)
class ParameterSpace:
    """An ordered, named set of channels.

    Lookups by name are precomputed because editors and the CLI address
    channels by name while the rigs want contiguous vectors.
    """

    name: str
    channels: tuple[Channel, ...]

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @cached_property
    def index(self) -> dict[str, int]:
        return {c.name: i for i, c in enumerate(self.channels)}

    @cached_property
    def defaults(self) -> np.ndarray:
        return np.array([c.default for c in self.channels], dtype=np.float32)

    @cached_property
    def minimums(self) -> np.ndarray:
        return np.array([c.minimum for c in self.channels], dtype=np.float32)

    @cached_property
    def maximums(self) -> np.ndarray:
        return np.array([c.maximum for c in self.channels], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.channels)

    def __contains__(self, name: object) -> bool:
        return name in self.index

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[self.index[name]]
        except KeyError:
            raise SpaceError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        import difflib

        close = difflib.get_close_matches(name, self.names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return f"'{name}' is not a channel of the {self.name} space.{hint}"

    def vector(self, values: dict[str, float] | None = None, *, clip: bool = True) -> np.ndarray:
        """Default vector with the named channels set (unknown names are an error)."""
        out = self.defaults.copy()
        for key, value in (values or {}).items():
            if key not in self.index:
                raise SpaceError(self._unknown(key))
            if not np.isfinite(value):
                raise SpaceError(f"Channel '{key}' got a non-finite value ({value}).")
            out[self.index[key]] = value
        return self.clip(out) if clip else out

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Clamp to channel ranges along the first axis (vector or channels x frames)."""
        lo, hi = self.minimums, self.maximums
        if values.ndim == 2:
            lo, hi = lo[:, None], hi[:, None]
        return np.clip(values, lo, hi)

    def as_dict(self, vector: np.ndarray) -> dict[str, float]:
        if vector.shape != (len(self),):
            raise SpaceError(f"{self.name} vector needs {len(self)} values, got shape {vector.shape}.")
        return {n: float(v) for n, v in zip(self.names, vector, strict=True)}


def _arkit_group(name: str) -> str:
    lowered = name.lower()
    for prefix, group in (("brow", "brows"), ("eye", "eyes"), ("jaw", "jaw"), ("mouth", "mouth"),
                          ("cheek", "cheeks/nose"), ("nose", "cheeks/nose"), ("tongue", "tongue")):
        if lowered.startswith(prefix):
            return group
    return "other"


def _build_arkit52() -> ParameterSpace:
    shapes = [Channel(n, 0.0, 1.0, 0.0, _arkit_group(n)) for n in ARKIT_BLENDSHAPES]
    pose = []
    for n in ARKIT_POSE_CHANNELS:
        limit = 1.2 if n.startswith("Head") else 0.6
        pose.append(Channel(n, -limit, limit, 0.0, "head pose" if n.startswith("Head") else "eye gaze", "rad"))
    return ParameterSpace("arkit52", tuple(shapes + pose))


def _build_flame56() -> ParameterSpace:
    expr = [Channel(f"expr{i:02d}", -3.0, 3.0, 0.0, "expression") for i in range(FLAME_EXPRESSION_COUNT)]
    rot = [Channel(f"global_{a}", -1.2, 1.2, 0.0, "head pose", "rad") for a in "xyz"]
    jaw = [Channel(f"jaw_{a}", lo, hi, 0.0, "jaw", "rad")
           for a, lo, hi in (("x", -0.1, 0.6), ("y", -0.2, 0.2), ("z", -0.2, 0.2))]
    neck = [Channel(f"neck_{a}", -0.8, 0.8, 0.0, "neck", "rad") for a in "xyz"]
    eyes = [Channel(f"{side}_eye_{a}", -0.6, 0.6, 0.0, "eye gaze", "rad")
            for side in ("left", "right") for a in "xyz"]
    return ParameterSpace("flame56", tuple(expr + rot + jaw + neck + eyes))


#: The canonical product space: 52 ARKit weights + head and eye rotations.
ARKIT52 = _build_arkit52()
#: MMHead/MEAD-3D layout: 50 expression + global rotation (3) + jaw (3); then optional neck, eyes.
FLAME56 = _build_flame56()
#: Number of leading FLAME56 channels that form the MMHead 56-dim vector.
FLAME56_CORE = 56

SPACES: dict[str, ParameterSpace] = {ARKIT52.name: ARKIT52, FLAME56.name: FLAME56}


def space_by_name(name: str) -> ParameterSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise SpaceError(f"Unknown parameter space '{name}'; known: {', '.join(SPACES)}.") from None
