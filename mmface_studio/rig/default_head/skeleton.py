"""The default head's skeleton: a subset of MPFB2's "default" rig, and its skin weights folded onto it.

MPFB2's rig has 163 bones (fingers, toes, dozens of face bones). A talking
head needs eight: a static root at the neck cut, three neck bones and the
head (so head turns bend the neck), the jaw, and the two eyes. Every other
bone's weights go to its nearest kept ancestor: face and eyelid bones to the
head, lip/chin/tongue bones to the jaw, spine/shoulder bones to the root.

Joint positions are computed the way MPFB2 does it, from the mesh (the mean of
a joint cube's vertices, or of named vertices), not from the JSON's
``default_position``; keeping them as a linear map over "anchor" vertices
lets them follow identity targets exactly.
"""

from __future__ import annotations

import numpy as np

from mmface_studio.rig.base import RigError
from mmface_studio.rig.default_head.source import ObjMesh

JOINTS: tuple[str, ...] = ("root", "neck01", "neck02", "neck03", "head", "jaw", "eye.L", "eye.R")
PARENTS: dict[str, str | None] = {
    "root": None, "neck01": "root", "neck02": "neck01", "neck03": "neck02",
    "head": "neck03", "jaw": "head", "eye.L": "head", "eye.R": "head",
}
#: Which MPFB bone's head position places each joint (the root sits where the neck starts).
POSITION_BONE: dict[str, str] = {"root": "neck01"}


def parent_indices() -> np.ndarray:
    return np.array([JOINTS.index(PARENTS[j]) if PARENTS[j] else -1 for j in JOINTS], dtype=np.int32)


def _strategy_vertices(mesh: ObjMesh, spec: dict, bone: str) -> np.ndarray:
    strategy = str(spec.get("strategy", "")).upper()
    if strategy == "CUBE":
        return mesh.group_vertices(str(spec["cube_name"]))
    if strategy == "MEAN":
        return np.asarray(spec["vertex_indices"], dtype=np.int64)
    if strategy == "VERTEX":
        return np.asarray([spec["vertex_index"]], dtype=np.int64)
    raise RigError(f"Bone '{bone}' in rig.default.json uses placement strategy '{strategy}', which is not supported.")


def joint_anchors(mesh: ObjMesh, rig: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix (J, A), anchor_vertices (A,))`` with joint rest positions = matrix @ vertices[anchors]."""
    per_joint = []
    for joint in JOINTS:
        bone = POSITION_BONE.get(joint, joint)
        if bone not in rig:
            raise RigError(f"rig.default.json has no bone '{bone}'.")
        per_joint.append(_strategy_vertices(mesh, rig[bone]["head"], bone))
    anchors = np.unique(np.concatenate(per_joint))
    if anchors.max() >= len(mesh.vertices):
        raise RigError("rig.default.json places a joint on a vertex that base.obj does not have.")
    matrix = np.zeros((len(JOINTS), len(anchors)))
    for j, verts in enumerate(per_joint):
        np.add.at(matrix[j], np.searchsorted(anchors, verts), 1.0 / len(verts))
    return matrix, anchors


def fold_map(rig: dict) -> dict[str, str]:
    """Every MPFB bone -> the kept joint whose motion it takes (itself, else its nearest kept ancestor)."""
    out: dict[str, str] = {}
    for bone in rig:
        current: str | None = bone
        seen = set()
        while current and current not in JOINTS and current not in seen:
            seen.add(current)
            current = rig.get(current, {}).get("parent") or None
        out[bone] = current if current in JOINTS else "root"
    return out


def skin_weights(weights: dict[str, list], rig: dict, vertex_count: int) -> np.ndarray:
    """(N, J) weights over the whole OBJ, folded onto :data:`JOINTS` (rows not normalised)."""
    folded = fold_map(rig)
    out = np.zeros((vertex_count, len(JOINTS)))
    for bone, pairs in weights.items():
        if not pairs:
            continue
        table = np.asarray(pairs, dtype=np.float64)
        idx = table[:, 0].astype(np.int64)
        if idx.max() >= vertex_count:
            raise RigError(f"weights.default.json weights vertex {idx.max()} of bone '{bone}', beyond base.obj.")
        np.add.at(out[:, JOINTS.index(folded.get(bone, "root"))], idx, table[:, 1])
    return out
