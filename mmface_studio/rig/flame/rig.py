"""FLAME as a :class:`~mmface_studio.rig.base.Rig` driven by the flame56 space.

The deformation is FLAME's own (Li et al. 2017): identity and expression
blendshapes on the template, joints regressed from that shaped mesh, pose
correctives from (R_j - I) of the non-root joints, then linear blend skinning.
Everything that does not change per frame is precomputed as flat float32
matrices so one frame is a couple of small GEMVs plus the skinning product.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mmface_studio.core.spaces import FLAME56, FLAME_EXPRESSION_COUNT
from mmface_studio.rig.base import IdentityControl, Joint, MeshPart, Rig, RigError
from mmface_studio.rig.flame.model import JOINT_NAMES, FlameModel, load_flame_model
from mmface_studio.rig.skinning import global_transforms, linear_blend_skin, rodrigues

#: flame56 channel prefixes for FLAME's joints, in kinematic-tree order.
_POSE_PREFIXES: tuple[str, ...] = ("global", "neck", "jaw", "left_eye", "right_eye")
#: Identity sliders offered (FLAME's leading shape components carry most of the variance).
IDENTITY_SLIDERS = 10
IDENTITY_RANGE = 3.0

_SKIN_RGBA = (0.86, 0.67, 0.58, 1.0)  # matches the viewport's "skin" material
_SCLERA_RGBA = (0.95, 0.94, 0.92, 1.0)
_IRIS_RGBA = (0.33, 0.45, 0.52, 1.0)
_PUPIL_RGBA = (0.04, 0.035, 0.035, 1.0)


class FlameRig(Rig):
    """A FLAME head: one mesh split into ``skin`` and ``eyes`` parts, 5 joints, 50 expressions."""

    def __init__(self, model: FlameModel, *, name: str = "FLAME") -> None:
        if model.joint_count != len(JOINT_NAMES):
            raise RigError(f"FLAME needs {len(JOINT_NAMES)} joints, the model has {model.joint_count}.")
        self.model = model
        self.name = name
        self.space = FLAME56
        nv = model.vertex_count
        self._nv = nv
        self.faces = np.ascontiguousarray(model.faces, dtype=np.int32)
        self.skin_weights = np.ascontiguousarray(model.weights, dtype=np.float32)
        self._parents = model.parents.astype(np.int64)
        self._j_regressor = np.ascontiguousarray(model.J_regressor, dtype=np.float32)

        # Expression basis (E, V*3) padded/truncated to the 50 flame56 channels, and its effect on the joints.
        expr = np.zeros((nv, 3, FLAME_EXPRESSION_COUNT), dtype=np.float32)
        used = min(FLAME_EXPRESSION_COUNT, model.n_expr)
        expr[:, :, :used] = model.exprdirs[:, :, :used]
        self._expr_basis = np.ascontiguousarray(expr.transpose(2, 0, 1).reshape(FLAME_EXPRESSION_COUNT, nv * 3))
        self._expr_joints = np.einsum("jv,vck->kjc", self._j_regressor, expr).reshape(FLAME_EXPRESSION_COUNT, -1)
        self._expr_joints = np.ascontiguousarray(self._expr_joints, dtype=np.float32)

        count = model.posedirs.shape[2]
        self._pose_basis = np.ascontiguousarray(model.posedirs.transpose(2, 0, 1).reshape(count, nv * 3))
        self._shape_basis = np.ascontiguousarray(model.shapedirs.transpose(2, 0, 1).reshape(model.n_shape, nv * 3))
        self._eye3 = np.eye(3)

        index = self.space.index
        self._expr_slice = slice(index["expr00"], index["expr00"] + FLAME_EXPRESSION_COUNT)
        if [index[f"expr{i:02d}"] for i in range(FLAME_EXPRESSION_COUNT)] != list(range(
                self._expr_slice.start, self._expr_slice.stop)):  # pragma: no cover - guards a space reorder
            raise RigError("flame56 expression channels are not contiguous.")
        self._pose_index = np.array([index[f"{p}_{a}"] for p in _POSE_PREFIXES for a in "xyz"], dtype=np.intp)

        self.blendshape_names = tuple(f"expr{i:02d}" for i in range(FLAME_EXPRESSION_COUNT))
        self.uvs = None if model.vt is None else np.asarray(model.vt, dtype=np.float32)
        self.face_uvs = None if model.ft is None else np.asarray(model.ft, dtype=np.int32)

        self._eye_vertex = self._find_eye_vertices()
        self.parts = self._split_parts()
        self._identity = np.zeros(min(IDENTITY_SLIDERS, model.n_shape), dtype=np.float32)
        self._apply_identity()

    # ------------------------------------------------------------------ topology

    def _find_eye_vertices(self) -> np.ndarray:
        """(V,) int: 3 or 4 for eyeball vertices (weighted mostly to an eye joint), else -1."""
        w = self.skin_weights
        best = np.argmax(w, axis=1)
        is_eye = ((best == 3) | (best == 4)) & (w[np.arange(self._nv), best] > 0.5)
        return np.where(is_eye, best, -1)

    def _split_parts(self) -> list[MeshPart]:
        eye_face = np.all(self._eye_vertex[self.faces] >= 0, axis=1)
        return [
            MeshPart("skin", "skin", np.ascontiguousarray(self.faces[~eye_face])),
            MeshPart("eyes", "eye", np.ascontiguousarray(self.faces[eye_face])),
        ]

    # ------------------------------------------------------------------ identity

    def identity_controls(self) -> list[IdentityControl]:
        return [IdentityControl(f"shape{i:02d}", f"Shape {i + 1}", -IDENTITY_RANGE, IDENTITY_RANGE, 0.0)
                for i in range(len(self._identity))]

    def identity(self) -> dict[str, float]:
        return {f"shape{i:02d}": float(v) for i, v in enumerate(self._identity)}

    def set_identity(self, values: Mapping[str, float]) -> None:
        """Set shape components by name (``shape00``..); components not named keep their value."""
        new = self._identity.copy()
        for key, value in values.items():
            if not (key.startswith("shape") and key[5:].isdigit() and int(key[5:]) < len(new)):
                raise RigError(f"'{key}' is not an identity control of {self.name} "
                               f"(shape00..shape{len(new) - 1:02d}).")
            if not np.isfinite(value):
                raise RigError(f"Identity control '{key}' got a non-finite value ({value}).")
            new[int(key[5:])] = np.clip(value, -IDENTITY_RANGE, IDENTITY_RANGE)
        self._identity = new
        self._apply_identity()

    def _apply_identity(self) -> None:
        """Recompute the identity-shaped rest mesh and joints (once per identity change, not per frame)."""
        flat = self.model.v_template.reshape(-1).astype(np.float32)
        if np.any(self._identity):
            flat = flat + self._identity @ self._shape_basis[: len(self._identity)]
        self._rest_flat = np.ascontiguousarray(flat, dtype=np.float32)
        rest = self._rest_flat.reshape(self._nv, 3)
        self._rest_joints = (self._j_regressor @ rest).astype(np.float64)
        self.joints = [Joint(n, int(p), self._rest_joints[j].copy())
                       for j, (n, p) in enumerate(zip(JOINT_NAMES, self._parents, strict=True))]

    # ------------------------------------------------------------------ evaluation

    def rest_vertices(self) -> np.ndarray:
        return self._rest_flat.reshape(self._nv, 3).copy()

    def blendshape_deltas(self) -> np.ndarray:
        return self._expr_basis.reshape(FLAME_EXPRESSION_COUNT, self._nv, 3).copy()

    def deform(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        vec = self._as_vector(params)
        psi = vec[self._expr_slice]
        rotations = rodrigues(vec[self._pose_index].reshape(len(JOINT_NAMES), 3))
        shaped = self._rest_flat + psi @ self._expr_basis
        joints = self._rest_joints + (psi @ self._expr_joints).reshape(-1, 3)
        pose_feature = (rotations[1:] - self._eye3).reshape(-1)
        if np.any(pose_feature):
            shaped += pose_feature.astype(np.float32) @ self._pose_basis
        transforms = global_transforms(self._parents, joints, rotations)
        return linear_blend_skin(shaped.reshape(self._nv, 3), self.skin_weights, transforms)

    def joint_rotations(self, params: np.ndarray) -> np.ndarray:
        """(5, 3, 3) local rotations of global, neck, jaw and the eyes."""
        vec = self._as_vector(params)
        return rodrigues(vec[self._pose_index].reshape(len(JOINT_NAMES), 3))

    def blendshape_weights(self, params: np.ndarray) -> np.ndarray:
        """The 50 expression coefficients (FLAME's expression basis is the blendshape set)."""
        return self._as_vector(params)[: len(self.blendshape_names)].copy()

    def joint_positions(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """(J, 3) posed joint positions (e.g. to place the eye gaze gizmo)."""
        vec = self._as_vector(params)
        psi = vec[self._expr_slice]
        rotations = rodrigues(vec[self._pose_index].reshape(len(JOINT_NAMES), 3))
        joints = self._rest_joints + (psi @ self._expr_joints).reshape(-1, 3)
        transforms = global_transforms(self._parents, joints, rotations)
        return np.einsum("jab,jb->ja", transforms[:, :, :3], joints) + transforms[:, :, 3]

    def vertex_colors(self) -> np.ndarray | None:
        """Skin tone everywhere, with sclera, iris and pupil painted on the eyeballs (which look along +Z)."""
        colors = np.tile(np.asarray(_SKIN_RGBA, dtype=np.float32), (self._nv, 1))
        rest = self.rest_vertices()
        for joint in (3, 4):
            ids = np.flatnonzero(self._eye_vertex == joint)
            if ids.size == 0:
                continue
            offset = rest[ids] - self._rest_joints[joint]
            cos = offset[:, 2] / np.maximum(np.linalg.norm(offset, axis=1), 1e-9)
            rgba = np.where((cos > 0.975)[:, None], _PUPIL_RGBA, np.where((cos > 0.9)[:, None], _IRIS_RGBA,
                                                                          _SCLERA_RGBA))
            colors[ids] = rgba
        return colors

    def info(self) -> dict[str, object]:
        out = super().info()
        out["identity_components"] = self.model.n_shape
        out["expression_components"] = self.model.n_expr
        if self.model.source:
            out["source"] = self.model.source
        if self.model.notes:
            out["notes"] = list(self.model.notes)
        return out


def load_flame_rig(path: str | Path) -> FlameRig:
    """Load a FLAME model file and wrap it as a rig (raises :class:`FlameModelError` on bad files)."""
    model = load_flame_model(path)
    return FlameRig(model, name=f"FLAME ({Path(path).name})")
