"""FBX export, read back by independent readers: ufbx (pyufbx) always, Blender's importer where installed.

pyufbx 0.0.7 wraps ufbx's scene graph but not its animation evaluation, and hands out ufbx's
double arrays as float32 views of the same memory. The animation checks therefore call ufbx's own
C functions (``ufbx_evaluate_blend_weight``, ``ufbx_evaluate_transform``, ``ufbx_get_bone_pose``),
which the pyufbx extension module exports, through ctypes; the few struct offsets used are checked
against values pyufbx reports before anything is trusted.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import ufbx
import ufbx._ufbx as ufbx_ext

from mmface_studio.core import atomic
from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES, FLAME56
from mmface_studio.export import fbx_binary as fb
from mmface_studio.export.errors import ExportCancelled, ExportError
from mmface_studio.export.fbx import FbxOptions, write_to_file
from mmface_studio.rig.default_head import load_default_head
from mmface_studio.rig.flame import load_flame_rig
from mmface_studio.rig.flame.synthetic import write_synthetic_flame
from mmface_studio.rig.skinning import vertex_normals

FPS = 30.0
FRAMES = 120
Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


# --------------------------------------------------------------------------- ufbx's C API through ctypes


class _Transform(ctypes.Structure):
    _fields_ = [("translation", ctypes.c_double * 3), ("rotation", ctypes.c_double * 4), ("scale", ctypes.c_double * 3)]


class UfbxC:
    """A scene loaded by ufbx's C API, for animation evaluation and bind poses (ufbx_real is double)."""

    NODE, BLEND_CHANNEL, POSE = 1, 20, 40  # ufbx_element_type values
    ELEMENT_TYPE_OFFSET = 72  # ufbx_element.type
    STACK_TIMES_OFFSET, STACK_ANIM_OFFSET = 128, 160  # ufbx_anim_stack.time_begin, .anim

    def __init__(self, path: Path, take: str = "Take 001") -> None:
        lib = self.lib = ctypes.CDLL(ufbx_ext.__file__)
        vp, sz, name = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
        for fn, res, args in (("ufbx_load_file_len", vp, [name, sz, vp, vp]), ("ufbx_free_scene", None, [vp]),
                              ("ufbx_find_element_len", vp, [vp, ctypes.c_int, name, sz]),
                              ("ufbx_find_anim_stack_len", vp, [vp, name, sz]),
                              ("ufbx_evaluate_blend_weight", ctypes.c_double, [vp, vp, ctypes.c_double]),
                              ("ufbx_evaluate_transform", _Transform, [vp, vp, ctypes.c_double]),
                              ("ufbx_get_bone_pose", vp, [vp, vp])):
            getattr(lib, fn).restype, getattr(lib, fn).argtypes = res, args
        raw = str(path).encode()
        self.scene = lib.ufbx_load_file_len(raw, len(raw), None, None)
        assert self.scene, f"ufbx could not load {path}"
        stack = lib.ufbx_find_anim_stack_len(self.scene, take.encode(), len(take.encode()))
        assert stack, f"no animation stack {take!r}"
        self.time_range = tuple((ctypes.c_double * 2).from_address(stack + self.STACK_TIMES_OFFSET))
        self.anim = ctypes.c_void_p.from_address(stack + self.STACK_ANIM_OFFSET).value
        with ufbx.load_file(str(path)) as scene:  # layout check: pyufbx reads the same stack times
            assert self.time_range == (scene.anim_stacks[0].time_begin, scene.anim_stacks[0].time_end)
        assert tuple((ctypes.c_double * 2).from_address(self.anim)) == self.time_range  # ufbx_anim.time_begin/end

    def close(self) -> None:
        self.lib.ufbx_free_scene(self.scene)

    def element(self, kind: int, name: str) -> int:
        ptr = self.lib.ufbx_find_element_len(self.scene, kind, name.encode(), len(name.encode()))
        assert ptr, f"no element {name!r} of type {kind}"
        assert ctypes.c_int.from_address(ptr + self.ELEMENT_TYPE_OFFSET).value == kind
        return ptr

    def blend_weight(self, channel: str, time: float) -> float:
        return self.lib.ufbx_evaluate_blend_weight(self.anim, self.element(self.BLEND_CHANNEL, channel), time)

    def local_transform(self, node: str, time: float) -> tuple[np.ndarray, np.ndarray]:
        """(translation (3,), rotation matrix (3, 3)) of a node's evaluated local transform."""
        t = self.lib.ufbx_evaluate_transform(self.anim, self.element(self.NODE, node), time)
        return np.array(t.translation), quat_matrix(np.array(t.rotation))

    def bind_pose(self, pose: str, node: str) -> tuple[bool, np.ndarray]:
        """(is_bind_pose, bone_to_world 3x4) of a node in a Pose element."""
        ptr = self.element(self.POSE, pose)
        is_bind = bool(ctypes.c_bool.from_address(ptr + 128).value)
        bone = self.lib.ufbx_get_bone_pose(ptr, self.element(self.NODE, node))
        assert bone, f"{node} is not in pose {pose}"
        assert ctypes.c_void_p.from_address(bone).value == self.element(self.NODE, node)
        matrix = np.array((ctypes.c_double * 12).from_address(bone + 8)).reshape(4, 3).T
        return is_bind, matrix


def quat_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def reals(view: np.ndarray, width: int) -> np.ndarray:
    """A pyufbx vertex array as float64 (pyufbx 0.0.7 exposes ufbx's double arrays as float32 views)."""
    if view.dtype == np.float64:
        return np.array(view)
    address = view.__array_interface__["data"][0]
    return np.array((ctypes.c_double * (view.shape[0] * width)).from_address(address)).reshape(-1, width)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory):
    return load_default_head(cache_dir=tmp_path_factory.mktemp("default-head-cache"))


def _performance(space, shapes: int, lo: float, hi: float, frames: int = FRAMES) -> Performance:
    """Smooth, different curves on every channel; pose channels within their ranges."""
    t = np.arange(frames) / FPS
    rows = np.arange(len(space))[:, None]
    wave = 0.5 + 0.5 * np.sin(t[None] * (0.7 + 0.13 * rows) + rows)
    values = space.minimums[:, None] + (space.maximums - space.minimums)[:, None] * wave * 0.9
    values[:shapes] = lo + (hi - lo) * wave[:shapes]
    return Performance(FPS, space, values.astype(np.float32))


@pytest.fixture(scope="module")
def perf() -> Performance:
    return _performance(ARKIT52, len(ARKIT_BLENDSHAPES), 0.0, 1.0)


@pytest.fixture(scope="module")
def exported(rig, perf, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_to_file(perf, rig, tmp_path_factory.mktemp("fbx") / "head.fbx")


@pytest.fixture(scope="module")
def evaluator(exported: Path):
    ev = UfbxC(exported)
    yield ev
    ev.close()


# --------------------------------------------------------------------------- container


def _read_nodes(data: bytes, pos: int, end: int, wide: bool) -> list[tuple[str, list, list]]:
    """A tiny independent reader of the node records (for the container test only)."""
    head = struct.Struct("<QQQ" if wide else "<III")
    nodes = []
    while pos < end:
        node_end, count, _ = head.unpack_from(data, pos)
        if node_end == 0:
            break
        name_len = data[pos + head.size]
        name = data[pos + head.size + 1:pos + head.size + 1 + name_len].decode()
        pos += head.size + 1 + name_len
        props = []
        for _ in range(count):
            code = chr(data[pos])
            pos += 1
            if code in "fdlib":
                n, enc, size = struct.unpack_from("<III", data, pos)
                raw = data[pos + 12:pos + 12 + size]
                props.append(np.frombuffer(zlib.decompress(raw) if enc else raw, dtype={"f": "<f4", "d": "<f8",
                             "l": "<i8", "i": "<i4", "b": "?"}[code], count=n))
                pos += 12 + size
            elif code in "SR":
                (n,) = struct.unpack_from("<I", data, pos)
                props.append(data[pos + 4:pos + 4 + n])
                pos += 4 + n
            else:
                fmt = {"Y": "<h", "C": "<?", "I": "<i", "F": "<f", "D": "<d", "L": "<q"}[code]
                props.append(struct.unpack_from(fmt, data, pos)[0])
                pos += struct.calcsize(fmt)
        nodes.append((name, props, _read_nodes(data, pos, node_end, wide)))
        pos = node_end
    return nodes


@pytest.mark.parametrize("version", [7400, 7500])
def test_binary_container_round_trips_through_an_independent_reader(version: int) -> None:
    big = np.arange(5000, dtype=np.float64) * 0.5
    root = fb.Node("Root", [fb.Int64(1 << 40), "name\x00\x01Class", 7, 2.5, True, fb.Int16(-3), fb.Float32(1.5)])
    root.add("Big", big)
    root.add("Small", np.array([1, -2, 3], dtype=np.int32))
    root.add("Empty")
    data = fb.encode([root, fb.Node("Tail", [b"\x00raw"])], version=version, level=1)
    assert data[:23] == fb.MAGIC and struct.unpack_from("<I", data, 23)[0] == version
    assert data.endswith(fb.FOOTER_MAGIC) and (len(data) - 16 - 120 - 4) % 16 == 0
    assert len(data) < big.nbytes  # the large array was compressed
    nodes = _read_nodes(data, 27, len(data), version >= 7500)
    assert [n[0] for n in nodes] == ["Root", "Tail"]
    assert nodes[0][1] == [1 << 40, b"name\x00\x01Class", 7, 2.5, True, -3, 1.5]
    children = {n[0]: n[1] for n in nodes[0][2]}
    np.testing.assert_array_equal(children["Big"][0], big)
    np.testing.assert_array_equal(children["Small"][0], [1, -2, 3])
    assert children["Empty"] == [] and nodes[1][1] == [b"\x00raw"]


def test_euler_xyz_matches_fbx_rotation_order() -> None:
    rng = np.random.default_rng(1)
    angles = rng.uniform(-80, 80, size=(50, 3))
    a, b, c = np.radians(angles).T
    one, zero = np.ones_like(a), np.zeros_like(a)
    rx = np.stack([one, zero, zero, zero, np.cos(a), -np.sin(a), zero, np.sin(a), np.cos(a)], -1).reshape(-1, 3, 3)
    ry = np.stack([np.cos(b), zero, np.sin(b), zero, one, zero, -np.sin(b), zero, np.cos(b)], -1).reshape(-1, 3, 3)
    rz = np.stack([np.cos(c), -np.sin(c), zero, np.sin(c), np.cos(c), zero, zero, zero, one], -1).reshape(-1, 3, 3)
    np.testing.assert_allclose(fb.euler_xyz_degrees(rz @ ry @ rx), angles, atol=1e-9)


# --------------------------------------------------------------------------- content, read by ufbx


def test_header_version_and_scene_settings(exported: Path) -> None:
    data = exported.read_bytes()
    assert data[:23] == b"Kaydara FBX Binary  \x00\x1a\x00" and struct.unpack_from("<I", data, 23)[0] == 7400
    with ufbx.load_file(str(exported)) as scene:
        assert scene.metadata.version == 7400 and not scene.metadata.ascii
        settings = scene.settings
        assert settings.frames_per_second == FPS and settings.time_mode == 6  # FBX's 30 fps mode
        assert settings.unit_meters == pytest.approx(0.01)
        assert settings.axes.up == ufbx.CoordinateAxis.COORDINATE_AXIS_POSITIVE_Y
        assert settings.axes.front == ufbx.CoordinateAxis.COORDINATE_AXIS_POSITIVE_Z
        assert settings.axes.right == ufbx.CoordinateAxis.COORDINATE_AXIS_POSITIVE_X
        stack = scene.anim_stacks[0]
        assert (stack.time_begin, stack.time_end) == pytest.approx((0.0, (FRAMES - 1) / FPS))


def test_mesh_positions_normals_uvs_and_faces(exported: Path, rig) -> None:
    with ufbx.load_file(str(exported)) as scene:
        (mesh,) = scene.meshes
        assert (mesh.num_vertices, mesh.num_faces, mesh.num_triangles) == (rig.vertex_count, rig.face_count,
                                                                           rig.face_count)
        np.testing.assert_array_equal(mesh.indices.reshape(-1, 3), rig.faces)
        rest = rig.rest_vertices().astype(np.float64)
        np.testing.assert_allclose(reals(mesh.vertex_positions, 3), rest * 100.0, atol=1e-4)  # centimetres
        np.testing.assert_allclose(reals(mesh.vertex_normals, 3), vertex_normals(rig.rest_vertices(), rig.faces),
                                   atol=1e-6)
        np.testing.assert_allclose(reals(mesh.vertex_uvs, 2), rig.uvs, atol=1e-7)


def test_one_material_per_part_assigned_by_polygon(exported: Path, rig) -> None:
    with ufbx.load_file(str(exported)) as scene:
        (mesh,) = scene.meshes
        assert [m.name for m in mesh.materials] == [p.name for p in rig.parts]
        expected = np.repeat(np.arange(len(rig.parts)), [len(p.faces) for p in rig.parts])  # parts are runs here
        np.testing.assert_array_equal(mesh.face_material, expected)


def test_blend_channels_are_the_52_arkit_shapes_with_sparse_offsets(exported: Path, rig) -> None:
    with ufbx.load_file(str(exported)) as scene:
        (mesh,) = scene.meshes
        (deformer,) = mesh.blend_deformers
        assert [c.name for c in deformer.channels] == list(ARKIT_BLENDSHAPES)
        moved = (np.abs(rig.blendshape_deltas()).max(axis=2) > 1e-7).sum(axis=1)
        assert [s.num_offsets for s in scene.blend_shapes] == moved.tolist()
        assert 0 < moved.max() < rig.vertex_count  # sparse, not dense


def test_every_channel_weight_equals_the_performance_at_every_frame(evaluator: UfbxC, perf: Performance) -> None:
    got = np.array([[evaluator.blend_weight(name, k / FPS) for k in range(FRAMES)] for name in ARKIT_BLENDSHAPES])
    np.testing.assert_allclose(got, perf.values[: len(ARKIT_BLENDSHAPES)], atol=1e-3)


def test_skeleton_hierarchy_skin_clusters_and_bind_pose(exported: Path, evaluator: UfbxC, rig) -> None:
    with ufbx.load_file(str(exported)) as scene:
        for joint in rig.joints:
            node = scene.find_node(joint.name)
            assert node is not None and node.bone is not None, joint.name
            parent = rig.joints[joint.parent].name if joint.parent >= 0 else ""
            assert node.parent.name == parent
        (skin,) = scene.meshes[0].skin_deformers
        weighted = (rig.skin_weights > 0).sum(axis=0)
        assert [(c.name, c.num_weights) for c in skin.clusters] == [(j.name, int(n)) for j, n in
                                                                     zip(rig.joints, weighted, strict=True)]
    for joint in rig.joints:
        is_bind, matrix = evaluator.bind_pose("BindPose", joint.name)
        assert is_bind
        np.testing.assert_allclose(matrix[:, :3], np.eye(3), atol=1e-12)  # joints rest world-aligned
        np.testing.assert_allclose(matrix[:, 3], joint.rest_position * 100.0, atol=1e-6)


def _world_positions(ev: UfbxC, rig, time: float) -> np.ndarray:
    """Joint world positions composed from ufbx's evaluated local transforms."""
    world_r, world_t = [], []
    for joint in rig.joints:
        t, r = ev.local_transform(joint.name, time)
        if joint.parent >= 0:
            t = world_r[joint.parent] @ t + world_t[joint.parent]
            r = world_r[joint.parent] @ r
        world_r.append(r)
        world_t.append(t)
    return np.array(world_t)


@pytest.mark.parametrize("frame", [0, 37, 80, FRAMES - 1])
def test_joint_rotations_equal_the_rig_at_sampled_frames(evaluator: UfbxC, rig, perf: Performance,
                                                          frame: int) -> None:
    expected = rig.joint_rotations(perf.values[:, frame])
    assert np.abs(expected[[1, 4, 6]] - np.eye(3)).max() > 0.01  # neck, head and an eye really turn here
    for j, joint in enumerate(rig.joints):
        _, rotation = evaluator.local_transform(joint.name, frame / FPS)
        np.testing.assert_allclose(rotation, expected[j], atol=1e-5, err_msg=joint.name)
    world = _world_positions(evaluator, rig, frame / FPS)
    np.testing.assert_allclose(world, rig.posed_joints(perf.values[:, frame]) * 100.0, atol=1e-3)


# --------------------------------------------------------------------------- options


def test_metres_and_z_up(tmp_path: Path, rig, perf: Performance, exported: Path) -> None:
    out = write_to_file(perf, rig, tmp_path / "z.fbx", FbxOptions(up_axis="Z", units="m"))
    with ufbx.load_file(str(out)) as scene, ufbx.load_file(str(exported)) as cm_scene:
        assert scene.settings.unit_meters == pytest.approx(1.0)
        assert scene.settings.axes.up == ufbx.CoordinateAxis.COORDINATE_AXIS_POSITIVE_Z
        assert scene.settings.axes.front == ufbx.CoordinateAxis.COORDINATE_AXIS_NEGATIVE_Y
        metres = reals(scene.meshes[0].vertex_positions, 3)
        centimetres = reals(cm_scene.meshes[0].vertex_positions, 3)
        np.testing.assert_allclose(metres @ Z_UP, centimetres / 100.0, atol=1e-6)  # Z-up = +90 deg about X
    ev = UfbxC(out)
    try:
        frame = 37
        expected = Z_UP @ rig.joint_rotations(perf.values[:, frame]) @ Z_UP.T
        for j, joint in enumerate(rig.joints):
            np.testing.assert_allclose(ev.local_transform(joint.name, frame / FPS)[1], expected[j], atol=1e-5)
        world = _world_positions(ev, rig, frame / FPS)
        np.testing.assert_allclose(world, rig.posed_joints(perf.values[:, frame]) @ Z_UP.T, atol=1e-5)
    finally:
        ev.close()


def test_frame_range_fps_and_version_7500(tmp_path: Path, rig, perf: Performance) -> None:
    opts = FbxOptions(frame_range=(20, 70), fps=60.0, version=7500)  # frames at 60 fps: 1/3 s .. 7/6 s
    out = write_to_file(perf, rig, tmp_path / "range.fbx", {"up": "y", "range": "20:70", "fps": 60.0,
                                                              "version": 7500})
    assert FbxOptions.coerce({"up": "y", "range": "20:70", "fps": 60.0, "version": 7500}) == opts
    with ufbx.load_file(str(out)) as scene:
        assert scene.metadata.version == 7500
        assert scene.settings.frames_per_second == 60.0
        assert (scene.anim_stacks[0].time_begin, scene.anim_stacks[0].time_end) == pytest.approx((20 / 60, 70 / 60))
    ev = UfbxC(out)
    try:
        source = np.arange(20, 71) / 2.0  # source frames (30 fps) of the 60 fps output frames
        expected = np.array([np.interp(source, np.arange(FRAMES), perf.values[s]) for s in (17, 23)])
        got = np.array([[ev.blend_weight(name, f / 60.0) for f in range(20, 71)] for name in ("jawOpen",
                                                                                               "mouthSmileLeft")])
        np.testing.assert_allclose(got, expected, atol=1e-3)
    finally:
        ev.close()


def test_bad_options_are_export_errors() -> None:
    for bad in ({"up_axis": "X"}, {"units": "mm"}, {"fps": 0.0}, {"frame_range": (10, 5)}, {"version": 7300},
                {"step": 0}):
        with pytest.raises(ExportError):
            FbxOptions(**bad)
    with pytest.raises(ExportError, match="colour"):
        FbxOptions.coerce({"colour": "red"})


# --------------------------------------------------------------------------- FLAME


def test_flame_rig_exports_its_expression_basis(tmp_path: Path) -> None:
    flame = load_flame_rig(write_synthetic_flame(tmp_path / "generic_model.pkl", vertex_count_hint=1500))
    perf = _performance(FLAME56, 50, -2.0, 2.0, frames=40)
    out = write_to_file(perf, flame, tmp_path / "flame.fbx")
    with ufbx.load_file(str(out)) as scene:
        (mesh,) = scene.meshes
        assert mesh.num_vertices == flame.vertex_count
        assert [c.name for c in mesh.blend_deformers[0].channels] == [f"expr{i:02d}" for i in range(50)]
        assert [m.name for m in mesh.materials] == ["skin", "eyes"]
        face_material = np.asarray(mesh.face_material)
        assert np.bincount(face_material).tolist() == [len(p.faces) for p in flame.parts]
        assert [n.name for n in scene.nodes if n.bone is not None] == [j.name for j in flame.joints]
    ev = UfbxC(out)
    try:
        got = np.array([[ev.blend_weight(f"expr{i:02d}", k / FPS) for k in range(40)] for i in range(50)])
        np.testing.assert_allclose(got, perf.values[:50], atol=1e-3)  # beyond 0..1: DeformPercent -200..200
        for frame in (0, 23):
            expected = flame.joint_rotations(perf.values[:, frame])
            for j, joint in enumerate(flame.joints):
                np.testing.assert_allclose(ev.local_transform(joint.name, frame / FPS)[1], expected[j], atol=1e-5)
    finally:
        ev.close()


# --------------------------------------------------------------------------- safety


def test_wrong_space_is_refused(tmp_path: Path, rig) -> None:
    flame_perf = _performance(FLAME56, 50, -1.0, 1.0, frames=5)
    with pytest.raises(ExportError, match="flame56.*arkit52"):
        write_to_file(flame_perf, rig, tmp_path / "wrong.fbx")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_an_export_error_naming_the_path(tmp_path: Path, rig, perf: Performance) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    target = blocker / "head.fbx"
    with pytest.raises(ExportError) as info:
        write_to_file(perf, rig, target)
    assert str(target) in str(info.value)
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_read_only_folder_is_an_export_error(tmp_path: Path, rig, perf: Performance) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="locked"):
            write_to_file(perf, rig, folder / "head.fbx")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_full_disk_leaves_nothing_behind(tmp_path: Path, rig, perf: Performance,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(ExportError, match="space"):
        write_to_file(perf, rig, tmp_path / "head.fbx")
    assert list(tmp_path.iterdir()) == []


class _CancelAt:
    """Says "cancelled" once progress has reached ``fraction`` (and records every report)."""

    def __init__(self, fraction: float) -> None:
        self.fraction, self.seen = fraction, []

    def progress(self, value: float) -> None:
        self.seen.append(value)

    @property
    def cancelled(self) -> bool:
        return bool(self.seen) and self.seen[-1] >= self.fraction


@pytest.mark.parametrize("fraction", [0.2, 0.7, 0.92])  # sampling the rig, encoding, writing the temp file
def test_cancel_midway_leaves_no_file_and_no_temp_file(tmp_path: Path, rig, perf: Performance,
                                                       fraction: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mmface_studio.export.fbx._CHUNK", 1 << 16)  # several chunks even for this short clip
    cancel = _CancelAt(fraction)
    long_perf = Performance(FPS, ARKIT52, np.tile(perf.values, (1, 8)))
    with pytest.raises(ExportCancelled):
        write_to_file(long_perf, rig, tmp_path / "head.fbx", progress=cancel.progress, cancel=cancel)
    assert cancel.seen[-1] < 1.0 and list(tmp_path.iterdir()) == []


def test_progress_rises_to_one_and_a_callable_cancel_works(tmp_path: Path, rig, perf: Performance) -> None:
    seen: list[float] = []
    write_to_file(perf, rig, tmp_path / "head.fbx", progress=seen.append, cancel=lambda: False)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(ExportCancelled):
        write_to_file(perf, rig, tmp_path / "again.fbx", cancel=lambda: True)
    assert not (tmp_path / "again.fbx").exists()


# --------------------------------------------------------------------------- Blender's importer

_BLENDER_SCRIPT = r"""
import bpy, json, sys
path, out, frames = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)
scene = bpy.context.scene
mesh = next(o for o in bpy.data.objects if o.type == "MESH")
arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
keys = mesh.data.shape_keys
curves = {fc.data_path: fc for fc in keys.animation_data.action.fcurves}
info = {"fps": scene.render.fps / scene.render.fps_base, "shape_keys": [k.name for k in keys.key_blocks],
        "materials": [m.name for m in mesh.data.materials], "bones": {b.name: b.parent.name if b.parent else None
        for b in arm.data.bones}, "shape_range": list(keys.animation_data.action.frame_range),
        "bone_range": list(arm.animation_data.action.frame_range), "curves": {}, "posed": {}}
for name, fc in curves.items():
    info["curves"][name] = [[k.co[0], k.co[1], k.interpolation] for k in fc.keyframe_points]
for f in map(int, frames.split(",")):
    scene.frame_set(f)
    ev = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
    data = ev.to_mesh()
    info["posed"][str(f)] = [list(ev.matrix_world @ v.co) for v in data.vertices]
    ev.to_mesh_clear()
json.dump(info, open(out, "w"))
"""


@pytest.mark.skipif(shutil.which("blender") is None, reason="Blender is not installed (apt-get install blender)")
def test_blender_imports_shape_keys_keyframes_and_the_posed_head(exported: Path, rig, perf: Performance,
                                                                  tmp_path: Path) -> None:
    script, out = tmp_path / "import_fbx.py", tmp_path / "blender.json"
    script.write_text(_BLENDER_SCRIPT)
    frames = (0, 45, FRAMES - 1)
    run = subprocess.run(["blender", "-b", "--factory-startup", "--python-exit-code", "3", "--python", str(script),
                          "--", str(exported), str(out), ",".join(map(str, frames))],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == 0 and out.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    info = json.loads(out.read_text())
    assert info["fps"] == pytest.approx(FPS)
    assert info["shape_keys"] == ["Basis", *ARKIT_BLENDSHAPES]
    assert info["materials"] == [p.name for p in rig.parts]
    assert info["bones"] == {j.name: rig.joints[j.parent].name if j.parent >= 0 else None for j in rig.joints}
    assert info["shape_range"] == info["bone_range"] == [0.0, FRAMES - 1.0]
    for s, name in enumerate(ARKIT_BLENDSHAPES):
        keys = np.array([k[:2] for k in info["curves"][f'key_blocks["{name}"].value']])
        np.testing.assert_array_equal(keys[:, 0], np.arange(FRAMES))
        np.testing.assert_allclose(keys[:, 1], perf.values[s], atol=1e-5)
    assert {k[2] for k in info["curves"]['key_blocks["jawOpen"].value']} == {"LINEAR"}
    for frame in frames:  # Blender imports a Y-up file into its Z-up world in metres: (x, y, z) -> (x, -z, y)
        expected = rig.deform(perf.values[:, frame]).astype(np.float64) @ Z_UP.T
        np.testing.assert_allclose(np.array(info["posed"][str(frame)]), expected, atol=1e-5)

