"""The contract every neural model family follows, so checkpoints, trainers and the engine treat them alike.

A family is a ``torch.nn.Module`` subclass of :class:`FamilyModel` with a frozen dataclass config
(JSON-able fields only). Rebuilding a model from a checkpoint is ``FAMILIES[name](Config(**cfg))``:
no pickles anywhere, the weights travel as safetensors (``engine.checkpoints``).

Output spaces: a family predicts the *face rows* of a parameter space (``face_channels``) and,
for pose families, the *pose rows* (``pose_channels``):

    arkit52: face = the 52 ARKit blendshapes, pose = HeadYaw, HeadPitch, HeadRoll
    flame56: face = expr00..expr49 + jaw_x/y/z (53), pose = global_x/y/z

so every family works in either space by picking the output head from its config's ``space``.
Models take and return batch-first float tensors ``(B, T, D)``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar

import torch
from torch import nn

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES, ParameterSpace, space_by_name

MODEL_SPACES: tuple[str, ...] = ("arkit52", "flame56")

_FACE = {
    "arkit52": tuple(ARKIT_BLENDSHAPES),
    "flame56": tuple(f"expr{i:02d}" for i in range(50)) + ("jaw_x", "jaw_y", "jaw_z"),
}
_POSE = {"arkit52": ("HeadYaw", "HeadPitch", "HeadRoll"), "flame56": ("global_x", "global_y", "global_z")}


class ModelConfigError(ValueError):
    """A model configuration is invalid (unknown space, bad sizes, unknown keys in a checkpoint)."""


def _check_space(space: str) -> str:
    if space not in MODEL_SPACES:
        raise ModelConfigError(f"Unknown model space {space!r}; use one of {', '.join(MODEL_SPACES)}.")
    return space


def face_channel_names(space: str) -> tuple[str, ...]:
    """Names of the face rows a model predicts in ``space`` (see module doc)."""
    return _FACE[_check_space(space)]


def pose_channel_names(space: str) -> tuple[str, ...]:
    return _POSE[_check_space(space)]


def face_dim(space: str) -> int:
    return len(face_channel_names(space))


def pose_dim(space: str) -> int:
    return len(pose_channel_names(space))


def channel_rows(space: str, names: tuple[str, ...]) -> list[int]:
    """Row indices of ``names`` in the full parameter space (to place model output into a Performance)."""
    full: ParameterSpace = space_by_name(space)
    return [full.index[n] for n in names]


def config_from_dict(config_cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from JSON, refusing unknown keys with a message that names them."""
    known = {f.name for f in fields(config_cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ModelConfigError(f"{config_cls.__name__} has no field(s) {', '.join(unknown)}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return config_cls(**values)


class FamilyModel(nn.Module):
    """Base of the four families: holds the config and knows how to describe itself.

    Subclasses set ``family`` (registry name) and ``config_class`` and build their layers from
    ``self.config`` in ``__init__``.
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config: Any) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ModelConfigError(f"{type(self).__name__} needs a {self.config_class.__name__}, "
                                   f"got {type(config).__name__}.")
        _check_space(getattr(config, "space", "arkit52"))
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @classmethod
    def from_config_dict(cls, data: dict[str, Any]) -> FamilyModel:
        return cls(config_from_dict(cls.config_class, data))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


#: family name -> model class; each family module registers itself on import (see ``families()``).
FAMILIES: dict[str, type[FamilyModel]] = {}


def register_family(cls: type[FamilyModel]) -> type[FamilyModel]:
    """Class decorator: make a family loadable by name from checkpoints."""
    if not cls.family:
        raise ModelConfigError(f"{cls.__name__} has no family name.")
    FAMILIES[cls.family] = cls
    return cls


def families() -> dict[str, type[FamilyModel]]:
    """All families, importing their modules on first use (so loading a checkpoint finds any family)."""
    import importlib

    for module in ("audio2flame", "pose", "mm2face", "resnet1d"):
        try:
            importlib.import_module(f"mmface_studio.engine.models.{module}")
        except ModuleNotFoundError as exc:  # a family still being written must not break the others
            if exc.name != f"mmface_studio.engine.models.{module}":
                raise
    return FAMILIES
