"""The rig interface every head implements.

A rig owns a fixed topology (triangles split into material parts, optional
UVs, a joint hierarchy with skin weights, named blendshapes) and one hot-path
method, :meth:`Rig.deform`, that turns a parameter vector in ``rig.space``
into vertex positions. Viewport, exporters and metrics only talk to this
interface, so the built-in head and FLAME are interchangeable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mmface_studio.core.spaces import ParameterSpace


class RigError(Exception):
    """A rig could not be built or loaded; the message says why in plain words."""


@dataclass(frozen=True)
class MeshPart:
    """A set of triangles sharing one material (skin, eyes, teeth, tongue...)."""

    name: str
    material: str
    faces: np.ndarray  # (F, 3) int32 indices into the rig's vertex array


@dataclass(frozen=True)
class Joint:
    """A joint of the rig's skeleton at rest (world-space head position)."""

    name: str
    parent: int  # index into rig.joints, -1 for the root
    rest_position: np.ndarray  # (3,) float


@dataclass(frozen=True)
class IdentityControl:
    """A slider of the identity panel (a shape target or shape component)."""

    name: str
    label: str
    minimum: float = -1.0
    maximum: float = 1.0
    default: float = 0.0


class Rig(ABC):
    """A deformable head. Subclasses fill the topology attributes in ``__init__``.

    Attributes:
        name: human-readable name shown in the UI.
        space: the parameter space ``deform`` reads.
        faces: (F, 3) int32 triangles over all parts.
        parts: material parts; their faces together are ``faces``.
        uvs: (T, 2) float32 texture coordinates, or None.
        face_uvs: (F, 3) int32 indices into ``uvs`` per triangle corner, or None.
        joints: skeleton, parents before children.
        skin_weights: (V, J) float32, rows sum to 1.
        blendshape_names: names of the rig's own blendshapes (for exporters).
        up_axis: 1 for Y-up (both built-in rigs); units are metres.
    """

    name: str
    space: ParameterSpace
    faces: np.ndarray
    parts: list[MeshPart]
    uvs: np.ndarray | None = None
    face_uvs: np.ndarray | None = None
    joints: list[Joint]
    skin_weights: np.ndarray
    blendshape_names: tuple[str, ...] = ()
    up_axis: int = 1

    @property
    def vertex_count(self) -> int:
        return int(self.rest_vertices().shape[0])

    @property
    def face_count(self) -> int:
        return int(self.faces.shape[0])

    @abstractmethod
    def rest_vertices(self) -> np.ndarray:
        """(V, 3) float32 neutral vertices with the current identity applied."""

    @abstractmethod
    def deform(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """(V, 3) float32 vertices for a parameter vector in ``self.space`` (or a name->value map)."""

    @abstractmethod
    def blendshape_deltas(self) -> np.ndarray:
        """(S, V, 3) float32 per-vertex offsets of ``blendshape_names`` (identity applied)."""

    @abstractmethod
    def joint_rotations(self, params: np.ndarray) -> np.ndarray:
        """(J, 3, 3) local joint rotations (about each joint's rest position) for a parameter vector.

        With :meth:`blendshape_weights` this is what exporters write: a skinned
        mesh with blendshapes reproduces ``deform`` (up to FLAME's pose correctives).
        """

    @abstractmethod
    def blendshape_weights(self, params: np.ndarray) -> np.ndarray:
        """(S,) weights of ``blendshape_names`` for a parameter vector."""

    def vertex_colors(self) -> np.ndarray | None:
        """Optional (V, 4) float32 RGBA base colours (e.g. iris and pupil on the eyes).

        None means every part is drawn in its material's flat colour.
        """
        return None

    def identity_controls(self) -> list[IdentityControl]:
        """Identity sliders this rig offers; empty when it has none."""
        return []

    def set_identity(self, values: Mapping[str, float]) -> None:
        """Apply identity slider values (names from :meth:`identity_controls`)."""
        if values:
            raise RigError(f"{self.name} has no identity controls.")

    def identity(self) -> dict[str, float]:
        return {}

    def params(self, values: Mapping[str, float] | None = None) -> np.ndarray:
        """A parameter vector in ``self.space`` with the named channels set."""
        return self.space.vector(dict(values or {}))

    def _as_vector(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        if isinstance(params, Mapping):
            return self.space.vector(dict(params))
        vec = np.asarray(params, dtype=np.float32)
        if vec.shape != (len(self.space),):
            raise RigError(
                f"{self.name} expects {len(self.space)} {self.space.name} values, got shape {vec.shape}."
            )
        return vec

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        v = self.rest_vertices()
        return v.min(axis=0), v.max(axis=0)

    def info(self) -> dict[str, object]:
        """Summary used by ``mmface-studio rig info`` and the About/status text."""
        lo, hi = self.bounds()
        return {
            "rig": self.name,
            "vertices": self.vertex_count,
            "faces": self.face_count,
            "parts": {p.name: int(p.faces.shape[0]) for p in self.parts},
            "joints": [j.name for j in self.joints],
            "blendshapes": len(self.blendshape_names),
            "space": self.space.name,
            "channels": list(self.space.names),
            "size_m": [round(float(x), 4) for x in (hi - lo)],
        }
