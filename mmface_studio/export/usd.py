"""USD (``.usda`` text, ``.usdc``/``.usd`` binary): a UsdSkel character with blendshapes and animation.

Layout (default prim ``/Head``, a SkelRoot)::

    /Head                 SkelRoot
    /Head/Skeleton        Skeleton: joint paths, bindTransforms (world), restTransforms (local)
    /Head/Animation       SkelAnimation: per-frame joint translations/rotations/scales + blendShapeWeights
    /Head/Mesh            Mesh bound to the skeleton (jointIndices/jointWeights primvars), faceVarying UVs,
                          one GeomSubset per rig part with its material
    /Head/Mesh/<shape>    BlendShape: sparse offsets + pointIndices
    /Head/Materials/<m>   UsdPreviewSurface materials

UsdSkel has no four-influence limit, so every skin influence of the rig is written and a UsdSkel
evaluation reproduces ``rig.deform`` exactly (FLAME's pose correctives aside). Time codes are the
exported frame numbers (``timeCodesPerSecond`` = ``framesPerSecond`` = fps). Normals are not
authored: they would be wrong as soon as a blendshape moves the surface, and USD consumers compute
them from the deformed points of an unsubdivided mesh.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Tf, Usd, UsdGeom, UsdShade, UsdSkel, Vt

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
)
from mmface_studio.rig.base import Rig

SUFFIXES = (".usda", ".usdc", ".usd")


def prim_name(name: str, taken: set[str]) -> str:
    """A valid, unique USD prim name for a rig name (``eye.L`` -> ``eye_L``)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    if base[0].isdigit():
        base = "_" + base
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


def _matrix(rotation: np.ndarray, translation: np.ndarray) -> Gf.Matrix4d:
    """Column-vector rotation + translation -> USD's row-vector Matrix4d."""
    m = np.eye(4)
    m[:3, :3] = rotation.T
    m[3, :3] = translation
    return Gf.Matrix4d(*m.reshape(-1).tolist())


def _joint_paths(rig: Rig) -> list[str]:
    taken: dict[int, set[str]] = {}
    paths: list[str] = []
    for joint in rig.joints:
        name = prim_name(joint.name, taken.setdefault(joint.parent, set()))
        paths.append(name if joint.parent < 0 else f"{paths[joint.parent]}/{name}")
    return paths


def _skin_influences(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every non-zero influence per vertex, padded to the largest count (UsdSkel's elementSize)."""
    size = max(int((weights > 0).sum(axis=1).max()), 1)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :size]
    values = np.take_along_axis(weights, order, axis=1)
    indices = np.where(values > 0, order, 0)
    return indices.astype(np.int32), values.astype(np.float32)


def _add_materials(stage: Usd.Stage, root: str, mesh: UsdGeom.Mesh, rig: Rig) -> None:
    colours = rig.vertex_colors()
    materials: dict[str, UsdShade.Material] = {}
    taken_mat: set[str] = set()
    taken_sub: set[str] = set()
    for part, faces in zip(rig.parts, part_face_indices(rig), strict=True):
        if part.material not in materials:
            name = prim_name(part.material, taken_mat)
            material = UsdShade.Material.Define(stage, f"{root}/Materials/{name}")
            shader = UsdShade.Shader.Define(stage, f"{root}/Materials/{name}/PreviewSurface")
            shader.CreateIdAttr("UsdPreviewSurface")
            rgb = (0.8, 0.8, 0.8)
            if colours is not None and part.faces.size:
                values, counts = np.unique(np.round(colours[np.unique(part.faces), :3], 3), axis=0, return_counts=True)
                rgb = tuple(float(c) for c in values[int(np.argmax(counts))])
            shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*rgb))
            shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.6)
            shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
            material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
            materials[part.material] = material
        subset = UsdGeom.Subset.CreateGeomSubset(mesh, prim_name(part.name, taken_sub), UsdGeom.Tokens.face,
                                                 Vt.IntArray(faces.astype(int).tolist()),
                                                 UsdShade.Tokens.materialBind, UsdGeom.Tokens.nonOverlapping)
        UsdShade.MaterialBindingAPI.Apply(subset.GetPrim()).Bind(materials[part.material])
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim())


def _add_mesh(stage: Usd.Stage, root: str, rig: Rig, opts: ExportOptions, skeleton: UsdSkel.Skeleton) -> list[str]:
    mesh = UsdGeom.Mesh.Define(stage, f"{root}/Mesh")
    rest = opts.points(rig.rest_vertices())
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(rest.astype(np.float32)))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(rig.face_count, 3, np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(rig.faces.astype(np.int32).reshape(-1)))
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*rest.min(axis=0)), Gf.Vec3f(*rest.max(axis=0))]))
    if rig.uvs is not None and rig.face_uvs is not None:
        st = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray,
                                                     UsdGeom.Tokens.faceVarying)
        st.Set(Vt.Vec2fArray.FromNumpy(rig.uvs.astype(np.float32)))
        st.SetIndices(Vt.IntArray.FromNumpy(rig.face_uvs.astype(np.int32).reshape(-1)))
    _add_materials(stage, root, mesh, rig)

    binding = UsdSkel.BindingAPI.Apply(mesh.GetPrim())
    binding.CreateSkeletonRel().SetTargets([skeleton.GetPath()])
    binding.CreateGeomBindTransformAttr(Gf.Matrix4d(1.0))
    if rig.joints:
        indices, weights = _skin_influences(rig.skin_weights)
        size = indices.shape[1]
        binding.CreateJointIndicesPrimvar(False, size).Set(Vt.IntArray.FromNumpy(indices.reshape(-1)))
        binding.CreateJointWeightsPrimvar(False, size).Set(Vt.FloatArray.FromNumpy(weights.reshape(-1)))
    names: list[str] = []
    taken: set[str] = set()
    targets = []
    deltas = rig.blendshape_deltas()
    for s, shape in enumerate(rig.blendshape_names):
        name = prim_name(shape, taken)
        blend = UsdSkel.BlendShape.Define(stage, f"{root}/Mesh/{name}")
        offsets = opts.points(deltas[s]).astype(np.float32)
        rows = np.flatnonzero(np.any(offsets != 0.0, axis=1))
        if rows.size == 0:  # an empty shape: one zero offset keeps the prim valid
            rows = np.zeros(1, dtype=np.int64)
        blend.CreateOffsetsAttr(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(offsets[rows])))
        blend.CreatePointIndicesAttr(Vt.IntArray.FromNumpy(rows.astype(np.int32)))
        names.append(name)
        targets.append(blend.GetPath())
    if names:
        binding.CreateBlendShapesAttr(Vt.TokenArray(names))
        binding.CreateBlendShapeTargetsRel().SetTargets(targets)
    return names


def _add_skeleton(stage: Usd.Stage, root: str, rig: Rig, opts: ExportOptions) -> tuple[UsdSkel.Skeleton, np.ndarray]:
    skeleton = UsdSkel.Skeleton.Define(stage, f"{root}/Skeleton")
    paths = _joint_paths(rig)
    rest = opts.points(np.array([j.rest_position for j in rig.joints], dtype=np.float64).reshape(-1, 3))
    local = np.array([rest[j] - (rest[joint.parent] if joint.parent >= 0 else 0.0)
                      for j, joint in enumerate(rig.joints)]).reshape(-1, 3)
    eye = np.eye(3)
    skeleton.CreateJointsAttr(Vt.TokenArray(paths))
    skeleton.CreateJointNamesAttr(Vt.TokenArray([j.name for j in rig.joints]))
    skeleton.CreateBindTransformsAttr(Vt.Matrix4dArray([_matrix(eye, p) for p in rest]))
    skeleton.CreateRestTransformsAttr(Vt.Matrix4dArray([_matrix(eye, t) for t in local]))
    UsdSkel.BindingAPI.Apply(skeleton.GetPrim())
    return skeleton, local


def _add_animation(stage: Usd.Stage, root: str, rig: Rig, opts: ExportOptions, sampled: FrameSampling,
                   skeleton: UsdSkel.Skeleton, local: np.ndarray, shapes: list[str],
                   progress: ProgressCallback | None, cancel: Any) -> None:
    anim = UsdSkel.Animation.Define(stage, f"{root}/Animation")
    UsdSkel.BindingAPI(skeleton.GetPrim()).CreateAnimationSourceRel().SetTargets([anim.GetPath()])
    joints = skeleton.GetJointsAttr().Get()
    anim.CreateJointsAttr(joints)
    anim.CreateBlendShapesAttr(Vt.TokenArray(shapes))
    translations, rotations, scales = (anim.CreateTranslationsAttr(), anim.CreateRotationsAttr(),
                                       anim.CreateScalesAttr())
    weights = anim.CreateBlendShapeWeightsAttr()
    fixed_t = Vt.Vec3fArray.FromNumpy(local.astype(np.float32))
    fixed_s = Vt.Vec3hArray([Gf.Vec3h(1.0, 1.0, 1.0)] * len(rig.joints))
    count = len(sampled)
    for i, frame in enumerate(sampled.frames):
        if i % 25 == 0:
            check_cancel(cancel)
            report(progress, 0.2 + 0.6 * i / count, "writing the animation")
        time = Usd.TimeCode(float(frame))
        params = sampled.values[:, i]
        if rig.joints:
            quats = [Gf.Quatf(Gf.Matrix4d(_matrix(r, np.zeros(3))).ExtractRotationQuat())
                     for r in opts.rotations(rig.joint_rotations(params))]
            rotations.Set(Vt.QuatfArray(quats), time)
            translations.Set(fixed_t, time)
            scales.Set(fixed_s, time)
        if shapes:
            weights.Set(Vt.FloatArray.FromNumpy(rig.blendshape_weights(params).astype(np.float32)), time)


def build_stage(performance: Performance, rig: Rig, options: ExportOptions | Mapping[str, Any] | None = None,
                progress: ProgressCallback | None = None, cancel: Any = None) -> Usd.Stage:
    """The whole character in an in-memory stage (written out by :func:`write_to_file`)."""
    opts = ExportOptions.coerce(options)
    check_space(performance, rig)
    sampled = sample_frames(performance, opts)
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if opts.up == "Z" else UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0 / opts.scale)
    stage.SetTimeCodesPerSecond(sampled.fps)
    stage.SetFramesPerSecond(sampled.fps)
    stage.SetStartTimeCode(float(sampled.frames[0]))
    stage.SetEndTimeCode(float(sampled.frames[-1]))
    root = "/Head"
    skel_root = UsdSkel.Root.Define(stage, root)
    stage.SetDefaultPrim(skel_root.GetPrim())
    layer = stage.GetRootLayer()
    layer.documentation = f"MMFace Studio {__version__}: {performance.space.name} performance on {rig.name}"
    layer.customLayerData = {"mmface": {"space": performance.space.name, "rig": rig.name,
                                        "provenance": json.dumps(performance.provenance, default=str)}}
    report(progress, 0.0, "writing the mesh")
    skeleton, local = _add_skeleton(stage, root, rig, opts)
    shapes = _add_mesh(stage, root, rig, opts, skeleton)
    check_cancel(cancel)
    _add_animation(stage, root, rig, opts, sampled, skeleton, local, shapes, progress, cancel)
    return stage


def write_to_file(performance: Performance, rig: Rig, path: str | Path,
                  options: ExportOptions | Mapping[str, Any] | None = None,
                  progress: ProgressCallback | None = None, cancel: Any = None) -> Path:
    """Write ``.usda`` (text) or ``.usdc``/``.usd`` (binary crate), atomically."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise export_error(f"USD files end in .usda, .usdc or .usd, not '{out.suffix}'.")
    stage = build_stage(performance, rig, options, progress, cancel)
    report(progress, 0.85, "saving")
    check_cancel(cancel)
    _export_atomically(stage.GetRootLayer(), out, "usda" if suffix == ".usda" else "usdc")
    report(progress, 1.0, "done")
    return out


def _export_atomically(layer: Sdf.Layer, out: Path, file_format: str) -> None:
    """USD writes by path, so: export to a temp file beside ``out`` (same suffix), fsync, rename."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".part{out.suffix}", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise export_error(f"Could not write {out}: {exc.strerror or exc}.") from None
    try:
        try:
            ok = layer.Export(tmp, args={"format": file_format})
        except Tf.ErrorException as exc:
            raise export_error(f"Could not write {out}: {str(exc).strip().splitlines()[-1]}") from None
        if not ok:
            raise export_error(f"Could not write {out}: USD failed to save the layer.")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise export_error(f"Could not write {out}: {exc.strerror or exc}.") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
