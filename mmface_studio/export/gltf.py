"""glTF 2.0 (``.gltf`` with the buffer embedded, or binary ``.glb``): a skinned, morphing head.

What a game engine or three.js needs to replay the performance without our code:

* one mesh, one primitive per rig part, one material per part material;
* vertices split where a UV seam runs through them (glTF has one UV per vertex), normals
  computed on the unsplit mesh so the seams stay invisible;
* the rig's blendshapes as morph targets (sparse accessors: most ARKit shapes move a small
  region), named in ``mesh.extras.targetNames`` (the de-facto convention three.js and Blender read);
* a skin over the rig's joints (top four influences per vertex, renormalised) with inverse bind
  matrices, so head turns and gaze are joint rotations rather than baked vertices;
* one animation: LINEAR morph weights (frames x targets values, as the spec requires) on the mesh
  node and quaternion rotations on every joint that moves.

glTF is Y-up in metres by definition, so ``up``/``units`` other than Y/m are refused rather than
producing a file every importer would turn the wrong way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib as gl
from scipy.spatial.transform import Rotation

from mmface_studio import __version__
from mmface_studio.core.performance import Performance
from mmface_studio.export import (
    ExportOptions,
    FrameSampling,
    ProgressCallback,
    check_cancel,
    check_space,
    export_error,
    part_face_indices,
    report,
    sample_frames,
    write_output,
)
from mmface_studio.rig.base import Rig
from mmface_studio.rig.skinning import vertex_normals

SUFFIXES = (".gltf", ".glb")

_FLOAT, _U8, _U16, _U32 = gl.FLOAT, gl.UNSIGNED_BYTE, gl.UNSIGNED_SHORT, gl.UNSIGNED_INT
_ARRAY, _ELEMENTS = gl.ARRAY_BUFFER, gl.ELEMENT_ARRAY_BUFFER
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPE = {_FLOAT: np.float32, _U8: np.uint8, _U16: np.uint16, _U32: np.uint32}


class _Buffer:
    """Accumulates binary data, one 4-byte-aligned bufferView per array, and the accessors over them."""

    def __init__(self, doc: gl.GLTF2) -> None:
        self.doc = doc
        self.chunks: list[bytes] = []
        self.length = 0

    def view(self, data: np.ndarray, target: int | None = None) -> int:
        raw = np.ascontiguousarray(data).tobytes()
        self.doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=self.length, byteLength=len(raw),
                                                  target=target))
        pad = (-len(raw)) % 4
        self.chunks.append(raw + b"\0" * pad)
        self.length += len(raw) + pad
        return len(self.doc.bufferViews) - 1

    def accessor(self, data: np.ndarray, component: int, kind: str, *, target: int | None = None,
                 bounds: bool = False) -> int:
        array = np.ascontiguousarray(data, dtype=_DTYPE[component]).reshape(-1, _WIDTH[kind])
        acc = gl.Accessor(bufferView=self.view(array, target), componentType=component, count=len(array),
                          type=kind)
        if bounds:
            acc.min, acc.max = array.min(axis=0).tolist(), array.max(axis=0).tolist()
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1

    def sparse_vec3(self, full: np.ndarray) -> int:
        """A VEC3 float accessor that is zero except where ``full`` is not (sparse when that is smaller)."""
        full = np.ascontiguousarray(full, dtype=np.float32)
        rows = np.flatnonzero(np.any(full != 0.0, axis=1))
        if rows.size * 16 >= full.nbytes:
            return self.accessor(full, _FLOAT, "VEC3", target=_ARRAY, bounds=True)
        lo = np.minimum(full[rows].min(axis=0), 0.0) if rows.size else np.zeros(3, np.float32)
        hi = np.maximum(full[rows].max(axis=0), 0.0) if rows.size else np.zeros(3, np.float32)
        acc = gl.Accessor(componentType=_FLOAT, count=len(full), type="VEC3", byteOffset=None, min=lo.tolist(),
                          max=hi.tolist())
        if rows.size:
            index_type = _U16 if len(full) < 65536 else _U32
            acc.sparse = gl.Sparse(
                count=int(rows.size),
                indices=gl.AccessorSparseIndices(bufferView=self.view(rows.astype(_DTYPE[index_type])),
                                                 componentType=index_type),
                values=gl.AccessorSparseValues(bufferView=self.view(full[rows])))
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1

    def blob(self) -> bytes:
        return b"".join(self.chunks)


def _split_corners(faces: np.ndarray, face_uvs: np.ndarray | None,
                   uv_count: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Unique (vertex, uv) corners of some triangles: (source vertex, source uv or None, local triangles)."""
    corners = faces.astype(np.int64).reshape(-1)
    if face_uvs is None:
        unique, inverse = np.unique(corners, return_inverse=True)
        return unique, None, inverse.reshape(-1, 3).astype(np.uint32)
    key = corners * uv_count + face_uvs.astype(np.int64).reshape(-1)
    unique, inverse = np.unique(key, return_inverse=True)
    return unique // uv_count, unique % uv_count, inverse.reshape(-1, 3).astype(np.uint32)


def _skin_top4(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The four strongest joints per vertex and their weights, renormalised to sum exactly to 1 in float32."""
    count = weights.shape[1]
    padded = weights if count >= 4 else np.pad(weights, ((0, 0), (0, 4 - count)))
    order = np.argsort(-padded, axis=1, kind="stable")[:, :4]
    top = np.take_along_axis(padded, order, axis=1).astype(np.float64)
    top = np.where(top > 1e-6, top, 0.0)
    top /= np.maximum(top.sum(axis=1, keepdims=True), 1e-12)
    top32 = top.astype(np.float32)
    top32[:, 0] = np.float32(1.0) - top32[:, 1:].sum(axis=1, dtype=np.float32)
    joints = np.where((order < count) & (top32 > 0.0), order, 0)  # unused slots point at joint 0
    return joints.astype(np.uint8 if count < 256 else np.uint16), top32


def _part_colour(rig: Rig, vertices: np.ndarray) -> list[float]:
    """A part's most common vertex colour (skin tone, sclera...), or light grey for rigs without colours."""
    colours = rig.vertex_colors()
    if colours is None or vertices.size == 0:
        return [0.8, 0.8, 0.8, 1.0]
    values, counts = np.unique(np.round(colours[vertices], 3), axis=0, return_counts=True)
    return [float(np.clip(c, 0.0, 1.0)) for c in values[int(np.argmax(counts))]]


def _quaternions(rotations: np.ndarray) -> np.ndarray:
    """(N, 3, 3) -> (N, 4) xyzw unit quaternions with no sign flips between neighbours (for LINEAR)."""
    quats = Rotation.from_matrix(rotations).as_quat()
    for i in range(1, len(quats)):
        if np.dot(quats[i], quats[i - 1]) < 0.0:
            quats[i] = -quats[i]
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    return quats.astype(np.float32)


def _add_mesh(doc: gl.GLTF2, buf: _Buffer, rig: Rig, name: str) -> None:
    rest = rig.rest_vertices().astype(np.float32)
    normals = vertex_normals(rest, rig.faces.astype(np.int64))
    normals = np.where(np.linalg.norm(normals, axis=1, keepdims=True) > 0.5, normals, [0.0, 1.0, 0.0])
    deltas = rig.blendshape_deltas()
    uvs = rig.uvs
    has_uv = uvs is not None and rig.face_uvs is not None
    joints, weights = _skin_top4(rig.skin_weights) if rig.joints else (None, None)
    materials: dict[str, int] = {}
    mesh = gl.Mesh(name=name, primitives=[], weights=[0.0] * len(rig.blendshape_names),
                   extras={"targetNames": list(rig.blendshape_names)})
    for part, face_ids in zip(rig.parts, part_face_indices(rig), strict=True):
        if part.faces.size == 0:
            continue
        part_uvs = rig.face_uvs[face_ids] if has_uv else None
        src, src_uv, local = _split_corners(part.faces, part_uvs, len(uvs) if has_uv else 1)
        if part.material not in materials:
            materials[part.material] = len(doc.materials)
            doc.materials.append(gl.Material(name=part.material, pbrMetallicRoughness=gl.PbrMetallicRoughness(
                baseColorFactor=_part_colour(rig, src), metallicFactor=0.0, roughnessFactor=0.6)))
        attrs = gl.Attributes(POSITION=buf.accessor(rest[src], _FLOAT, "VEC3", target=_ARRAY, bounds=True),
                              NORMAL=buf.accessor(normals[src], _FLOAT, "VEC3", target=_ARRAY))
        if src_uv is not None:
            st = uvs[src_uv].astype(np.float32) * [1.0, -1.0] + [0.0, 1.0]  # glTF's V runs down the image
            attrs.TEXCOORD_0 = buf.accessor(st, _FLOAT, "VEC2", target=_ARRAY)
        if joints is not None:
            attrs.JOINTS_0 = buf.accessor(joints[src], _U8 if joints.dtype == np.uint8 else _U16, "VEC4",
                                          target=_ARRAY)
            attrs.WEIGHTS_0 = buf.accessor(weights[src], _FLOAT, "VEC4", target=_ARRAY)
        targets = [gl.Attributes(POSITION=buf.sparse_vec3(deltas[s][src])) for s in range(len(deltas))]
        index_type = _U16 if len(src) < 65536 else _U32
        mesh.primitives.append(gl.Primitive(
            attributes=attrs, indices=buf.accessor(local.reshape(-1), index_type, "SCALAR", target=_ELEMENTS),
            material=materials[part.material], targets=targets or None, mode=gl.TRIANGLES))
    doc.meshes.append(mesh)


def _add_skeleton(doc: gl.GLTF2, buf: _Buffer, rig: Rig) -> list[int]:
    """Joint nodes (after the mesh node) and the skin; returns the scene's root joint nodes."""
    first = len(doc.nodes)
    rest = np.array([j.rest_position for j in rig.joints], dtype=np.float64)
    roots = []
    for j, joint in enumerate(rig.joints):
        offset = rest[j] - (rest[joint.parent] if joint.parent >= 0 else 0.0)
        doc.nodes.append(gl.Node(name=joint.name, translation=[float(x) for x in offset]))
        if joint.parent >= 0:
            doc.nodes[first + joint.parent].children.append(first + j)
        else:
            roots.append(first + j)
    ibm = np.tile(np.eye(4), (len(rest), 1, 1))
    ibm[:, :3, 3] = -rest
    doc.skins.append(gl.Skin(name="skeleton", joints=list(range(first, first + len(rest))), skeleton=roots[0],
                             inverseBindMatrices=buf.accessor(ibm.transpose(0, 2, 1), _FLOAT, "MAT4")))
    return roots


def _add_animation(doc: gl.GLTF2, buf: _Buffer, rig: Rig, sampled: FrameSampling,
                   progress: ProgressCallback | None, cancel: Any) -> None:
    count = len(sampled)
    weights = np.empty((count, len(rig.blendshape_names)), dtype=np.float32)
    rotations = np.empty((count, len(rig.joints), 3, 3))
    for i in range(count):
        if i % 200 == 0:
            check_cancel(cancel)
            report(progress, 0.1 + 0.7 * i / count, "sampling the animation")
        params = sampled.values[:, i]
        weights[i] = rig.blendshape_weights(params)
        if rig.joints:
            rotations[i] = rig.joint_rotations(params)
    times = (sampled.times - sampled.times[0]).astype(np.float32)
    anim = gl.Animation(name="performance", samplers=[], channels=[])
    time_acc = buf.accessor(times, _FLOAT, "SCALAR", bounds=True)
    if weights.shape[1]:
        anim.samplers.append(gl.AnimationSampler(input=time_acc, output=buf.accessor(weights, _FLOAT, "SCALAR"),
                                                 interpolation="LINEAR"))
        anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1,
                                                 target=gl.AnimationChannelTarget(node=0, path=gl.WEIGHTS)))
    for j in range(len(rig.joints)):
        if np.allclose(rotations[:, j], np.eye(3), atol=1e-9):
            continue
        anim.samplers.append(gl.AnimationSampler(input=time_acc, interpolation="LINEAR",
                                                 output=buf.accessor(_quaternions(rotations[:, j]), _FLOAT, "VEC4")))
        anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1,
                                                 target=gl.AnimationChannelTarget(node=1 + j, path=gl.ROTATION)))
    if anim.channels:
        doc.animations.append(anim)


def build_document(performance: Performance, rig: Rig, options: ExportOptions | Mapping[str, Any] | None = None,
                   progress: ProgressCallback | None = None, cancel: Any = None) -> tuple[gl.GLTF2, bytes]:
    """The glTF document and its binary buffer (not yet attached), for writing or for inspection."""
    opts = ExportOptions.coerce(options)
    if opts.up != "Y" or opts.units != "m":
        raise export_error("glTF files are Y-up in metres by definition (importers convert on load); "
                           "export glTF with up Y and units m.")
    check_space(performance, rig)
    sampled = sample_frames(performance, opts)
    doc = gl.GLTF2(asset=gl.Asset(version="2.0", generator=f"MMFace Studio {__version__}"))
    buf = _Buffer(doc)
    report(progress, 0.0, "writing the mesh")
    doc.nodes.append(gl.Node(name="head", mesh=0, skin=0 if rig.joints else None))
    _add_mesh(doc, buf, rig, "head")
    check_cancel(cancel)
    roots = _add_skeleton(doc, buf, rig) if rig.joints else []
    _add_animation(doc, buf, rig, sampled, progress, cancel)
    provenance = json.loads(json.dumps(performance.provenance, default=str))
    doc.scenes.append(gl.Scene(name="performance", nodes=[0, *roots], extras={
        "mmface": {"space": performance.space.name, "fps": sampled.fps, "first_frame": int(sampled.frames[0]),
                   "frames": len(sampled), "step": int(sampled.frames[1] - sampled.frames[0]) if len(sampled) > 1
                   else 1, "rig": rig.name, "provenance": provenance}}))
    doc.scene = 0
    blob = buf.blob()
    doc.buffers.append(gl.Buffer(byteLength=len(blob)))
    return doc, blob


def write_to_file(performance: Performance, rig: Rig, path: str | Path,
                  options: ExportOptions | Mapping[str, Any] | None = None,
                  progress: ProgressCallback | None = None, cancel: Any = None) -> Path:
    """Write ``.glb`` (binary) or ``.gltf`` (JSON with the buffer as a data URI: one self-contained file)."""
    out = Path(path)
    if out.suffix.lower() not in SUFFIXES:
        raise export_error(f"glTF files end in .gltf or .glb, not '{out.suffix}'.")
    doc, blob = build_document(performance, rig, options, progress, cancel)
    report(progress, 0.85, "encoding")
    if out.suffix.lower() == ".glb":
        doc.set_binary_blob(blob)
        data = b"".join(doc.save_to_bytes())
    else:
        doc.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(blob).decode("ascii")
        data = doc.gltf_to_json(separators=(",", ":"), indent=None).encode("utf-8")
    check_cancel(cancel)
    written = write_output(out, lambda fh: fh.write(data))
    report(progress, 1.0, "done")
    return written
