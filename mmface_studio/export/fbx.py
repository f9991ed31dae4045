"""FBX export: the rig's head as a skinned, blendshaped mesh with the performance baked to curves.

What the file holds (binary FBX 7.4 by default, or 7.5):

- the rest mesh (positions, smooth normals, UVs) with one material per rig part, assigned per polygon;
- a ``BlendShape`` deformer with one ``BlendShapeChannel`` per rig blendshape (the 52 ARKit shapes
  on the default head, the 50 expression components on FLAME), each with a sparse ``Shape``;
- the rig's joints as ``LimbNode`` models, a ``Skin`` deformer with one ``Cluster`` per weighted
  joint, and a ``BindPose``;
- one take: a ``DeformPercent`` curve per channel (FBX's 0-100 scale) and an ``Lcl Rotation`` curve
  per joint (Euler XYZ, degrees), one linear key per exported frame.

FLAME's pose correctives and its expression-dependent joint positions have no FBX equivalent, so
a FLAME head in a DCC differs from ``rig.deform`` by those (a millimetre or two); the default head
has neither and is reproduced exactly.

The rigs' joints rest with their axes aligned to the world, so a joint's FBX node is its rest
position relative to its parent, and the local rotation ``rig.joint_rotations`` returns (about the
joint's rest position, composed down the hierarchy) is exactly the node's ``Lcl Rotation``. For a
Z-up file every position, normal and rotation is conjugated by the same axis change, so the skeleton
is still world-aligned at rest in the file's axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio import __version__
from mmface_studio.core.atomic import atomic_write
from mmface_studio.core.performance import Performance
from mmface_studio.export import ExportOptions, part_face_indices, sample_frames
from mmface_studio.export import fbx_binary as fb
from mmface_studio.export.errors import ExportCancelled, ExportError
from mmface_studio.rig.skinning import vertex_normals

SUFFIXES = (".fbx",)
TAKE = "Take 001"
#: Name of the mesh node (not "head", which is a joint of the default head).
MESH_NAME = "head_geo"
#: Offsets smaller than this (metres) are left out of a sparse blendshape.
SHAPE_EPSILON = 1e-7
#: ``KeyAttrFlags`` bit for linear interpolation between keys.
KEY_LINEAR = 0x4
#: Z-up: +90 degrees about X, so the head's up (+Y) becomes +Z and its face (+Z) looks along -Y.
_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: (UpAxis, UpAxisSign, FrontAxis, FrontAxisSign, CoordAxis, CoordAxisSign) of GlobalSettings.
_AXES = {"Y": (1, 1, 2, 1, 0, 1), "Z": (2, 1, 1, -1, 0, 1)}
_CHUNK = 1 << 20

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class FbxOptions:
    """Export choices. ``units``: "cm" (FBX's and Maya/Unreal's native unit) or "m" (the rigs' own).

    ``frame_range``: first and last frame to write, inclusive, counted at the output frame rate
    (either end may be None). ``fps``: output frame rate; None keeps the performance's, other rates
    resample the channels linearly. ``step`` writes every n-th frame. ``version``: 7400 or 7500.
    ``compression``: zlib level for large arrays (1 is about as small as 6 here and several times faster).
    """

    up_axis: str = "Y"
    units: str = "cm"
    frame_range: tuple[int | None, int | None] | None = None
    fps: float | None = None
    step: int = 1
    version: int = 7400
    compression: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "up_axis", str(self.up_axis).upper())
        if self.up_axis not in _AXES:
            raise ExportError(f"FBX up axis must be Y or Z, got {self.up_axis!r}.")
        if self.units not in ("cm", "m"):
            raise ExportError(f"FBX units must be cm or m, got {self.units!r}.")
        if self.fps is not None and not (math.isfinite(self.fps) and 1.0 <= self.fps <= 1000.0):
            raise ExportError(f"Frame rate must be between 1 and 1000 fps, got {self.fps}.")
        if int(self.step) != self.step or self.step < 1:
            raise ExportError(f"Frame step must be a whole number >= 1, got {self.step}.")
        if self.version not in fb.SUPPORTED_VERSIONS:
            raise ExportError(f"FBX version must be 7400 or 7500, got {self.version}.")
        first, last = self.frame_range or (None, None)
        if any(f is not None and f < 0 for f in (first, last)) or (None not in (first, last) and last < first):
            raise ExportError(f"Frame range {first}..{last} is not a range of frames >= 0.")

    @classmethod
    def coerce(cls, options: FbxOptions | Mapping[str, Any] | None) -> FbxOptions:
        """Options from a mapping too (the export registry's ``up``/``range`` names are accepted)."""
        if options is None or isinstance(options, FbxOptions):
            return options or cls()
        values = {k: v for k, v in dict(options).items() if v is not None}
        for alias, name in (("up", "up_axis"), ("range", "frame_range")):
            if alias in values:
                values[name] = values.pop(alias)
        if isinstance(values.get("frame_range"), str):  # "A:B", "A:" or ":B" from a command line
            head, _, tail = values["frame_range"].partition(":")
            try:
                values["frame_range"] = (int(head) if head.strip() else None, int(tail) if tail.strip() else None)
            except ValueError:
                raise ExportError(f"Frame range must look like 0:120, got {values['frame_range']!r}.") from None
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ExportError(f"Unknown FBX export option(s): {', '.join(unknown)}.")
        return cls(**values)

    @property
    def scale(self) -> float:
        """Metres -> output units."""
        return 100.0 if self.units == "cm" else 1.0

    @property
    def axes(self) -> np.ndarray:
        return _Z_UP if self.up_axis == "Z" else np.eye(3)


class _Monitor:
    """Progress reporting and cancel polling (``cancel.cancelled``, or a callable returning True)."""

    def __init__(self, progress: ProgressCallback | None, cancel: Any) -> None:
        self.progress, self.cancel = progress, cancel

    def __call__(self, fraction: float) -> None:
        flag = getattr(self.cancel, "cancelled", None) if self.cancel is not None else None
        if flag is None and callable(self.cancel):
            flag = self.cancel()
        if callable(flag):
            flag = flag()
        if flag:
            raise ExportCancelled("FBX export was cancelled.")
        if self.progress is not None:
            self.progress(min(max(float(fraction), 0.0), 1.0))


def write_to_file(performance: Performance, rig: Any, path: str | Path,
                  options: FbxOptions | Mapping[str, Any] | None = None,
                  progress: ProgressCallback | None = None, cancel: Any = None) -> Path:
    """Write ``performance`` on ``rig`` as a binary FBX at ``path`` (atomically) and return the path.

    ``progress(fraction)`` is called with a rising fraction 0..1; ``cancel`` is polled at the same
    points (``cancel.cancelled``, or ``cancel()`` when it is a callable).

    Raises :class:`ExportError` with a message for the user (wrong space, bad options, a folder
    that cannot be written, a full disk) or :class:`ExportCancelled`; either way nothing is left
    under ``path`` and no temporary file remains.
    """
    out = Path(path)
    opts = FbxOptions.coerce(options)
    step = _Monitor(progress, cancel)
    if performance.space.name != rig.space.name:
        raise ExportError(f"Cannot export {out.name}: this is a {performance.space.name} performance but "
                          f"{rig.name} is driven by {rig.space.name}; convert the performance first.")
    step(0.0)
    fps, frames, values = _sample(performance, opts)
    scene = _Scene(rig, opts)
    scene.build(frames / fps, values, step)
    creator = f"MMFace Studio {__version__}"
    nodes = fb.document(scene.objects, scene.connections, version=opts.version, creator=creator,
                        axes=_AXES[opts.up_axis], unit_cm=100.0 / opts.scale, fps=fps,
                        span=(float(frames[0] / fps), float(frames[-1] / fps)), take=TAKE)
    data = fb.encode(nodes, opts.version, opts.compression,
                     on_node=lambda done, total: step(0.55 + 0.35 * done / max(total, 1)))

    view = memoryview(data)

    def write(handle: Any) -> None:
        for start in range(0, len(data), _CHUNK):
            step(0.9 + 0.1 * start / len(data))
            handle.write(view[start:start + _CHUNK])

    try:
        atomic_write(out, write)
    except OSError as exc:
        raise ExportError(f"Could not write {out}: {exc.strerror or exc}.") from None
    step(1.0)
    return out


def _sample(perf: Performance, opts: FbxOptions) -> tuple[float, np.ndarray, np.ndarray]:
    """(fps, output frame numbers, channels x frames values): the registry's shared frame sampling."""
    if perf.frame_count == 0:
        raise ExportError("The performance has no frames to export.")
    common = ExportOptions(fps=opts.fps, frame_range=opts.frame_range or (None, None), step=opts.step)
    sampled = sample_frames(perf, common)
    return sampled.fps, sampled.frames, sampled.values


class _Scene:
    """Builds the FBX object and connection nodes for one rig and one clip."""

    def __init__(self, rig: Any, opts: FbxOptions) -> None:
        self.rig, self.opts = rig, opts
        self.objects, self.connections = fb.Node("Objects"), fb.Node("Connections")
        self._next_id = 1_000_000

    def uid(self) -> int:
        self._next_id += 1
        return self._next_id

    def obj(self, kind: str, name: str, cls: str, subclass: str) -> tuple[int, fb.Node]:
        uid = self.uid()
        return uid, self.objects.add(kind, fb.Int64(uid), fb.name_class(name, cls), subclass)

    def link(self, child: int, parent: int, prop: str | None = None) -> None:
        if prop is None:
            self.connections.add("C", "OO", fb.Int64(child), fb.Int64(parent))
        else:
            self.connections.add("C", "OP", fb.Int64(child), fb.Int64(parent), prop)

    def points(self, xyz: np.ndarray) -> np.ndarray:
        return (np.asarray(xyz, dtype=np.float64) @ self.opts.axes.T) * self.opts.scale

    def directions(self, xyz: np.ndarray) -> np.ndarray:
        return np.asarray(xyz, dtype=np.float64) @ self.opts.axes.T

    # --- objects -------------------------------------------------------------------------------------

    def build(self, times: np.ndarray, values: np.ndarray, step: Callable[[float], None]) -> None:
        rig = self.rig
        frames_t = np.ascontiguousarray(values.T)
        weights = np.empty((len(frames_t), len(rig.blendshape_names)))
        rotations = np.empty((len(frames_t), len(rig.joints), 3, 3))
        for k, params in enumerate(frames_t):
            weights[k] = rig.blendshape_weights(params)
            rotations[k] = rig.joint_rotations(params)
            if k % 256 == 255:
                step(0.4 * k / len(frames_t))
        step(0.4)
        self.rest = rig.rest_vertices().astype(np.float64)
        self.normals = vertex_normals(self.rest.astype(np.float32), rig.faces)
        self.mesh_model, self.geometry = self._mesh()
        step(0.45)
        self.joint_models = self._skeleton()
        self._skin()
        channels = self._blendshapes()
        step(0.55)
        self._animation(times, weights, rotations, channels)

    def _model(self, name: str, subclass: str, translation: np.ndarray, parent: int) -> int:
        """A transform node (mesh or joint) at rest: translation only, rotation zero, scale one."""
        model, node = self.obj("Model", name, "Model", subclass)
        node.add("Version", 232)
        props = node.add("Properties70")
        fb.p_vector(props, "Lcl Translation", "Lcl Translation", translation)
        fb.p_vector(props, "Lcl Rotation", "Lcl Rotation", (0, 0, 0))
        fb.p_vector(props, "Lcl Scaling", "Lcl Scaling", (1, 1, 1))
        fb.p_enum(props, "RotationOrder", 0)  # Euler XYZ, as the rotation curves are written
        node.add("Culling", "CullingOff")
        self.link(model, parent)
        return model

    def _mesh(self) -> tuple[int, int]:
        rig = self.rig
        model = self._model(MESH_NAME, "Mesh", np.zeros(3), 0)
        geometry, geo = self.obj("Geometry", MESH_NAME, "Geometry", "Mesh")
        geo.add("GeometryVersion", 124)
        geo.add("Vertices", self.points(self.rest).ravel())
        polygon = rig.faces.astype(np.int32)
        polygon[:, 2] = ~polygon[:, 2]  # a negative (bit-flipped) index closes each polygon
        geo.add("PolygonVertexIndex", polygon.ravel())
        normals = self.directions(self.normals).ravel()
        fb.layer_element(geo, "LayerElementNormal", "", "ByVertice", "Direct", Normals=normals)
        if rig.uvs is not None and rig.face_uvs is not None:
            fb.layer_element(geo, "LayerElementUV", "UVMap", "ByPolygonVertex", "IndexToDirect",
                   UV=np.asarray(rig.uvs, dtype=np.float64).ravel(),
                   UVIndex=np.asarray(rig.face_uvs, dtype=np.int32).ravel())
        materials = self._materials(model)
        fb.layer_element(geo, "LayerElementMaterial", "", "ByPolygon", "IndexToDirect", Materials=materials)
        info = geo.add("Layer", 0)
        info.add("Version", 100)
        for element in [c.name for c in geo.children if c.name.startswith("LayerElement")]:
            entry = info.add("LayerElement")
            entry.add("Type", element)
            entry.add("TypedIndex", 0)
        self.link(geometry, model)
        return model, geometry

    def _materials(self, model: int) -> np.ndarray:
        """One material per part, connected in part order; returns each polygon's material index."""
        rig = self.rig
        colors = rig.vertex_colors()
        indices = np.zeros(rig.face_count, dtype=np.int32)
        for k, rows in enumerate(part_face_indices(rig)):
            indices[rows] = k
        for part in rig.parts:
            rgb = colors[np.unique(part.faces), :3].mean(axis=0) if colors is not None else (0.8, 0.8, 0.8)
            material, node = self.obj("Material", part.name, "Material", "")
            node.add("Version", 102)
            node.add("ShadingModel", "lambert")
            node.add("MultiLayer", 0)
            props = node.add("Properties70")
            fb.p_string(props, "ShadingModel", "Lambert")
            fb.p_vector(props, "DiffuseColor", "Color", rgb)
            fb.p_double(props, "DiffuseFactor", 1.0)
            self.link(material, model)
        return indices

    def _skeleton(self) -> list[int]:
        rest = self.points(np.array([j.rest_position for j in self.rig.joints], dtype=np.float64))
        self.joint_rest = rest
        ids = []
        for j, joint in enumerate(self.rig.joints):
            attr, node = self.obj("NodeAttribute", joint.name, "NodeAttribute", "LimbNode")
            fb.p_double(node.add("Properties70"), "Size", 1.0)
            node.add("TypeFlags", "Skeleton")
            offset = rest[j] - (rest[joint.parent] if joint.parent >= 0 else 0.0)
            model = self._model(joint.name, "LimbNode", offset, ids[joint.parent] if joint.parent >= 0 else 0)
            self.link(attr, model)
            ids.append(model)
        return ids

    def _skin(self) -> None:
        weights = np.asarray(self.rig.skin_weights, dtype=np.float64)
        skin, node = self.obj("Deformer", MESH_NAME, "Deformer", "Skin")
        node.add("Version", 101)
        node.add("Link_DeformAcuracy", 50.0)
        self.link(skin, self.geometry)
        pose_id, pose = self.obj("Pose", "BindPose", "Pose", "BindPose")
        pose.add("Type", "BindPose")
        pose.add("Version", 100)
        pose.add("NbPoseNodes", 1 + len(self.joint_models))
        entry = pose.add("PoseNode")
        entry.add("Node", fb.Int64(self.mesh_model))
        entry.add("Matrix", np.eye(4).ravel())
        for j, joint in enumerate(self.rig.joints):
            link = fb.translation_matrix(self.joint_rest[j])
            entry = pose.add("PoseNode")
            entry.add("Node", fb.Int64(self.joint_models[j]))
            entry.add("Matrix", link)
            index = np.flatnonzero(weights[:, j] > 0)
            if index.size == 0:
                continue
            cluster, node = self.obj("Deformer", joint.name, "SubDeformer", "Cluster")
            node.add("Version", 100)
            node.add("UserData", "", "")
            node.add("Indexes", index.astype(np.int32))
            node.add("Weights", weights[index, j])
            node.add("Transform", fb.translation_matrix(-self.joint_rest[j]))
            node.add("TransformLink", link)
            self.link(cluster, skin)
            self.link(self.joint_models[j], cluster)

    def _blendshapes(self) -> list[int]:
        deltas = self.rig.blendshape_deltas()
        blend, node = self.obj("Deformer", MESH_NAME, "Deformer", "BlendShape")
        node.add("Version", 100)
        self.link(blend, self.geometry)
        channels = []
        for s, name in enumerate(self.rig.blendshape_names):
            delta = np.asarray(deltas[s], dtype=np.float64)
            index = np.flatnonzero(np.abs(delta).max(axis=1) > SHAPE_EPSILON)
            shaped = vertex_normals((self.rest + delta).astype(np.float32), self.rig.faces)
            channel, node = self.obj("Deformer", name, "SubDeformer", "BlendShapeChannel")
            node.add("Version", 100)
            node.add("DeformPercent", 0.0)
            node.add("FullWeights", np.array([100.0]))
            shape, node = self.obj("Geometry", name, "Geometry", "Shape")
            node.add("Version", 100)
            node.add("Indexes", index.astype(np.int32))
            node.add("Vertices", (delta[index] @ self.opts.axes.T * self.opts.scale).ravel())
            node.add("Normals", self.directions(shaped[index] - self.normals[index]).ravel())
            self.link(channel, blend)
            self.link(shape, channel)
            channels.append(channel)
        return channels

    # --- animation -----------------------------------------------------------------------------------

    def _animation(self, times: np.ndarray, weights: np.ndarray, rotations: np.ndarray, channels: list[int]) -> None:
        self.stack, node = self.obj("AnimationStack", TAKE, "AnimStack", "")
        props = node.add("Properties70")
        start, stop = fb.ktime(times[0]), fb.ktime(times[-1])
        for name, ticks in (("LocalStart", start), ("LocalStop", stop), ("ReferenceStart", start),
                            ("ReferenceStop", stop)):
            fb.p_time(props, name, int(ticks))
        layer, node = self.obj("AnimationLayer", "BaseLayer", "AnimLayer", "")
        node.block = True
        self.link(layer, self.stack)
        ticks = fb.ktime(times)
        for channel, curve in zip(channels, (weights * 100.0).T, strict=True):
            self._curve_node(layer, channel, "DeformPercent", {"DeformPercent": curve}, ticks)
        c = self.opts.axes
        local = c @ rotations @ c.T
        degrees = np.unwrap(fb.euler_xyz_degrees(local), period=360.0, axis=0)
        for j, model in enumerate(self.joint_models):
            curves = {axis: degrees[:, j, a] for a, axis in enumerate("XYZ")}
            self._curve_node(layer, model, "Lcl Rotation", curves, ticks, node_name="R")

    def _curve_node(self, layer: int, target: int, prop: str, curves: dict[str, np.ndarray], ticks: np.ndarray,
                    node_name: str | None = None) -> None:
        node_id, node = self.obj("AnimationCurveNode", node_name or prop, "AnimCurveNode", "")
        props = node.add("Properties70")
        for key, values in curves.items():
            fb.p70(props, f"d|{key}", "Number", "", "A", float(values[0]))
        self.link(node_id, layer)
        self.link(node_id, target, prop)
        for key, values in curves.items():
            curve, cnode = self.obj("AnimationCurve", "", "AnimCurve", "")
            cnode.add("Default", float(values[0]))
            cnode.add("KeyVer", 4009)
            cnode.add("KeyTime", ticks)
            cnode.add("KeyValueFloat", np.asarray(values, dtype=np.float32))
            cnode.add("KeyAttrFlags", np.array([KEY_LINEAR], dtype=np.int32))
            cnode.add("KeyAttrDataFloat", np.zeros(4, dtype=np.float32))
            cnode.add("KeyAttrRefCount", np.array([len(ticks)], dtype=np.int32))
            self.link(curve, node_id, f"d|{key}")
