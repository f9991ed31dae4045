"""The built-in "expression tour": a performance that shows off every channel of a space.

Until an engine exists (and afterwards as a rig check), playing this makes it
easy to see that every blendshape, the jaw, the eyes and head turns work.
"""

from __future__ import annotations

import numpy as np

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES, FLAME56, ParameterSpace


def _bump(frames: int) -> np.ndarray:
    """Smooth 0 -> 1 -> 0 over ``frames`` (raised cosine)."""
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * t)


def expression_tour(space: ParameterSpace = ARKIT52, fps: float = 30.0, seconds_per_shape: float = 0.6) -> Performance:
    """One bump per expression channel, then a head-turn sequence and a blink/gaze coda."""
    step = max(4, int(round(seconds_per_shape * fps)))
    if space.name == ARKIT52.name:
        shape_names = list(ARKIT_BLENDSHAPES)
        turns = [("HeadYaw", 0.5), ("HeadYaw", -0.5), ("HeadPitch", 0.3), ("HeadPitch", -0.25),
                 ("HeadRoll", 0.25), ("LeftEyeYaw", 0.35), ("RightEyeYaw", 0.35)]
        peak = 1.0
    elif space.name == FLAME56.name:
        shape_names = [f"expr{i:02d}" for i in range(10)] + ["jaw_x"]
        turns = [("global_y", 0.5), ("global_y", -0.5), ("global_x", 0.3), ("neck_z", 0.2),
                 ("left_eye_y", 0.3), ("right_eye_y", 0.3)]
        peak = 2.0
    else:
        raise ValueError(f"No expression tour for space {space.name}.")
    segments = len(shape_names) + len(turns)
    values = np.repeat(space.defaults[:, None], segments * step + step, axis=1)
    bump = _bump(step)
    frame = 0
    for name in shape_names:
        hi = space.channel(name).maximum
        values[space.index[name], frame:frame + step] = bump * min(peak, hi)
        frame += step
    for name, amount in turns:
        values[space.index[name], frame:frame + step] += bump * amount
        if name == "LeftEyeYaw":  # look sideways with both eyes, as a person would
            values[space.index["RightEyeYaw"], frame:frame + step] += bump * amount
        frame += step
    return Performance(fps=fps, space=space, values=space.clip(values),
                       provenance={"engine": "expression-tour", "space": space.name})
