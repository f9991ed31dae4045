"""The built-in default head as a :class:`~mmface_studio.rig.base.Rig` (hot path: numpy only).

``deform`` is one vector-matrix product for the 52 face units followed by
linear blend skinning over eight joints, both kept off BLAS's thread pool.
Head rotation is shared out over the three neck joints and the head about one
common axis, so the neck bends smoothly and the head ends up exactly at
``euler_yxz(HeadYaw, HeadPitch, HeadRoll)``. Eye channels rotate each eye
joint about the eyeball's centre. The jaw joint carries no rotation: the face
units themselves move the lower teeth and tongue with the chin (the build
checks this), so rotating it too would move them twice.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import sparse

from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES
from mmface_studio.rig.base import IdentityControl, Joint, MeshPart, Rig, RigError
from mmface_studio.rig.default_head.build import HeadData
from mmface_studio.rig.skinning import euler_yxz, global_transforms, linear_blend_skin, rodrigues

#: Share of the head rotation each joint takes (they sum to 1). The skull-base joint takes about half, as
#: the upper cervical joints do in people; giving the lower neck more lets the chin sink into the throat
#: (and the mouth lining show through it) on a deep nod.
HEAD_ROTATION_SHARE = {"neck01": 0.1, "neck02": 0.15, "neck03": 0.2, "head": 0.55}

_N_SHAPES = len(ARKIT_BLENDSHAPES)
_POSE = {name: ARKIT52.index[name] for name in ARKIT52.names[_N_SHAPES:]}


def rotation_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rodrigues` for one matrix (robust near 0 and pi)."""
    cos = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    if angle < 1e-8:
        return np.zeros(3)
    if angle > np.pi - 1e-3:
        # Near pi the antisymmetric part vanishes: the symmetric part is cos*I + (1 - cos) a a^T.
        outer = ((r + r.T) / 2.0 - cos * np.eye(3)) / (1.0 - cos)
        k = int(np.argmax(np.diag(outer)))
        axis = outer[:, k] / np.sqrt(max(outer[k, k], 1e-12))
        if axis @ np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) < 0:
            axis = -axis
        return axis * angle
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2.0 * np.sin(angle))
    return axis * angle


class DefaultHeadRig(Rig):
    """MakeHuman hm08 head + neck with Apple's 52 ARKit face units (no download needed)."""

    name = "Default head (MakeHuman)"
    space = ARKIT52
    blendshape_names = ARKIT_BLENDSHAPES
    up_axis = 1

    def __init__(self, data: HeadData, cache_info: Mapping[str, object] | None = None) -> None:
        data.validate()
        self._data = data
        #: How this rig was obtained (``from_cache``, timings, cache path); informational.
        self.cache_info = dict(cache_info or {})
        self.faces = data.faces
        self.parts = [
            MeshPart(str(n), str(m), data.faces[data.part_offsets[i]:data.part_offsets[i + 1]])
            for i, (n, m) in enumerate(zip(data.part_names, data.part_materials, strict=True))
        ]
        self.uvs = data.uvs
        self.face_uvs = data.face_uvs
        self.skin_weights = np.ascontiguousarray(data.skin_weights, dtype=np.float32)
        # Most vertices follow one joint: a CSR copy makes skinning a small sparse product that never
        # wakes OpenBLAS's thread pool (which stalls for milliseconds when other processes hold the cores).
        self._skin_csr = sparse.csr_matrix(self.skin_weights)
        self._parents = data.joint_parents.astype(np.int64)
        self._joint_names = [str(n) for n in data.joint_names]
        self._blend = np.ascontiguousarray(data.blendshapes.reshape(_N_SHAPES, -1), dtype=np.float32)
        self._colors = data.vertex_colors
        self._controls = [IdentityControl(str(n), str(lbl))
                          for n, lbl in zip(data.identity_names, data.identity_labels, strict=True)]
        self._identity = {c.name: 0.0 for c in self._controls}
        self._share = [(self._joint_names.index(j), s) for j, s in HEAD_ROTATION_SHARE.items()]
        self._eyes = [(self._joint_names.index(j), [_POSE[f"{side}Eye{a}"] for a in ("Yaw", "Pitch", "Roll")])
                      for j, side in (("eye.L", "Left"), ("eye.R", "Right"))]
        self._apply_identity()

    # --- identity -----------------------------------------------------------------------------------------

    def identity_controls(self) -> list[IdentityControl]:
        return list(self._controls)

    def identity(self) -> dict[str, float]:
        return dict(self._identity)

    def set_identity(self, values: Mapping[str, float]) -> None:
        """Set some or all identity sliders (others keep their value); each is clamped to -1..1."""
        update = {}
        for key, value in dict(values).items():
            if key not in self._identity:
                known = ", ".join(self._identity)
                raise RigError(f"'{key}' is not an identity control of the default head (known: {known}).")
            value = float(value)
            if not np.isfinite(value):
                raise RigError(f"Identity control '{key}' got a non-finite value.")
            update[key] = float(np.clip(value, -1.0, 1.0))
        if update:
            self._identity.update(update)
            self._apply_identity()

    def _apply_identity(self) -> None:
        d = self._data
        rest = d.rest.astype(np.float64)
        anchors = d.anchors.astype(np.float64)
        for i, c in enumerate(self._controls):
            value = self._identity[c.name]
            if value > 0:
                rest += value * d.identity_pos[i]
                anchors += value * d.anchor_pos[i]
            elif value < 0:
                rest -= value * d.identity_neg[i]
                anchors -= value * d.anchor_neg[i]
        self._rest = rest.astype(np.float32)
        self._rest_flat = self._rest.reshape(-1)
        self._joint_rest = d.joint_matrix @ anchors
        self.joints = [Joint(n, int(p), self._joint_rest[k].copy())
                       for k, (n, p) in enumerate(zip(self._joint_names, self._parents, strict=True))]

    # --- geometry -----------------------------------------------------------------------------------------

    def rest_vertices(self) -> np.ndarray:
        return self._rest.copy()

    def blendshape_deltas(self) -> np.ndarray:
        """(52, V, 3) offsets; a read-only view (identity targets are additive, so these do not change)."""
        view = self._blend.reshape(_N_SHAPES, -1, 3).view()
        view.flags.writeable = False
        return view

    def vertex_colors(self) -> np.ndarray:
        """Skin, teeth, tongue and lash tones, and eyes with sclera, iris and pupil."""
        return self._colors.copy()

    def joint_rotations(self, params: np.ndarray) -> np.ndarray:
        """(J, 3, 3) local joint rotations (in rest space) for a parameter vector."""
        rot = np.broadcast_to(np.eye(3), (len(self._joint_names), 3, 3)).copy()
        head = euler_yxz(params[_POSE["HeadYaw"]], params[_POSE["HeadPitch"]], params[_POSE["HeadRoll"]])
        aa = rotation_to_axis_angle(head)
        shared = rodrigues(np.array([share * aa for _, share in self._share]))
        for (j, _), r in zip(self._share, shared, strict=True):
            rot[j] = r
        for j, (yaw, pitch, roll) in self._eyes:
            rot[j] = euler_yxz(params[yaw], params[pitch], params[roll])
        return rot

    def blendshape_weights(self, params: np.ndarray) -> np.ndarray:
        """The 52 ARKit weights: the rig's blendshapes are the ARKit face units themselves."""
        return self._as_vector(params)[:_N_SHAPES].copy()

    def joint_transforms(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """(J, 3, 4) skinning matrices (rest space -> posed space) for a parameter vector."""
        vec = self._as_vector(params)
        return global_transforms(self._parents, self._joint_rest, self.joint_rotations(vec))

    def posed_joints(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """(J, 3) joint positions after posing (for skeleton overlays and exporters)."""
        t = self.joint_transforms(params)
        return np.einsum("jab,jb->ja", t[:, :, :3], self._joint_rest) + t[:, :, 3]

    def deform(self, params: np.ndarray | Mapping[str, float]) -> np.ndarray:
        vec = self._as_vector(params)
        # einsum, not ``@``: numpy's own loop (~0.1 ms here) instead of a BLAS call that may go multi-threaded.
        shaped = np.einsum("s,sv->v", vec[:_N_SHAPES], self._blend)
        shaped += self._rest_flat
        vertices = shaped.reshape(-1, 3)
        if not vec[_N_SHAPES:].any():
            return vertices
        transforms = global_transforms(self._parents, self._joint_rest, self.joint_rotations(vec))
        return linear_blend_skin(vertices, self._skin_csr, transforms)

    def part_vertices(self, name: str) -> np.ndarray:
        """Sorted vertex indices of a part (for tests, exporters and pickers)."""
        for part in self.parts:
            if part.name == name:
                return np.unique(part.faces)
        raise RigError(f"The default head has no part '{name}'.")
