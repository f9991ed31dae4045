"""OBJ sequence export, read back with trimesh and compared with ``rig.deform`` frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, FLAME56
from mmface_studio.core.tour import expression_tour
from mmface_studio.export import ExportOptions, export_performance, obj_sequence
from mmface_studio.export.errors import ExportCancelled, ExportError


@pytest.fixture(scope="module")
def head():
    from mmface_studio.rig.default_head import load_default_head

    return load_default_head()


@pytest.fixture(scope="module")
def tour() -> Performance:
    return expression_tour(ARKIT52, fps=30.0, seconds_per_shape=0.2)


def load(path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(triangle corners (F, 3, 3), corner UVs (F, 3, 2) or None, vertex normals) of all parts of one OBJ file.

    Read per material: trimesh's ``force="mesh"`` would pack the materials' UVs into one atlas.
    """
    scene = trimesh.load(str(path), process=False)
    meshes = list(scene.geometry.values()) if isinstance(scene, trimesh.Scene) else [scene]
    corners = np.concatenate([m.vertices[m.faces] for m in meshes])
    has_uv = all(getattr(m.visual, "uv", None) is not None for m in meshes)
    uvs = np.concatenate([m.visual.uv[m.faces] for m in meshes]) if has_uv else None
    return corners, uvs, np.concatenate([m.vertex_normals for m in meshes])


def match_triangles(loaded, rig, deformed: np.ndarray) -> float:
    """Match every loaded triangle to the rig triangle with the same corners (same winding); worst corner error.

    trimesh re-indexes vertices (it splits them at UV seams and regroups faces by material), so the
    comparison is per triangle: each loaded triangle must be one of the rig's triangles, each rig
    triangle must appear exactly once, and the UVs at its corners must be the rig's.
    """
    found, uv, _ = loaded
    expected = deformed[rig.faces].astype(np.float64)
    assert len(found) == rig.face_count
    _, nearest = cKDTree(expected.mean(axis=1)).query(found.mean(axis=1))
    assert len(np.unique(nearest)) == rig.face_count, "some rig triangles are missing or doubled"
    candidates = expected[nearest]
    errors = np.stack([np.abs(np.roll(found, -shift, axis=1) - candidates).max(axis=(1, 2)) for shift in range(3)])
    if rig.uvs is not None:
        assert uv is not None
        shift = errors.argmin(axis=0)
        rolled = np.stack([np.roll(uv[i], -s, axis=0) for i, s in enumerate(shift)])
        assert np.abs(rolled - rig.uvs[rig.face_uvs[nearest]]).max() < 1e-5
    return float(errors.min(axis=0).max())


def test_every_frame_reads_back_as_rig_deform(tmp_path, head, tour) -> None:
    first = obj_sequence.write_to_file(tour, head, tmp_path / "head.obj", options={"range": "100:220", "step": 20})
    assert first.name == "head_0100.obj"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["head.mtl"] + [f"head_{f:04d}.obj" for f in range(100, 221, 20)]
    for frame in range(100, 221, 20):
        loaded = load(tmp_path / f"head_{frame:04d}.obj")
        assert match_triangles(loaded, head, head.deform(tour.values[:, frame])) < 1e-5
        assert np.allclose(np.linalg.norm(loaded[2], axis=1), 1.0, atol=1e-4)


def test_materials_and_groups(tmp_path, head, tour) -> None:
    first = obj_sequence.write_to_file(tour, head, tmp_path / "seq" / "head.obj", options={"range": "0:0"})
    scene = trimesh.load(str(first), process=False)
    assert set(scene.geometry) == {p.material for p in head.parts}
    skin = scene.geometry["skin"].visual.material
    assert skin.diffuse[0] > skin.diffuse[2]  # a skin tone, from the MTL, not the default grey
    text = first.read_text()
    assert text.count("usemtl ") == len(head.parts) and "mtllib head.mtl" in text
    assert [ln.split()[1] for ln in text.splitlines() if ln.startswith("g ")] == [p.name for p in head.parts]


def test_z_up_centimetres_and_fps(tmp_path, head, tour) -> None:
    opts = ExportOptions(up="Z", units="cm", fps=60.0, frame_range=(61, 61))
    first = obj_sequence.write_to_file(tour, head, tmp_path / "z.obj", options=opts)
    assert first.name == "z_0061.obj"
    # frame 61 at 60 fps is halfway between frames 30 and 31 at 30 fps
    params = 0.5 * (tour.values[:, 30] + tour.values[:, 31])
    expected = opts.points(head.deform(params))
    assert match_triangles(load(first), head, expected) < 1e-4  # 1e-6 m in centimetres, plus text rounding
    assert np.ptp(expected[:, 2]) > np.ptp(expected[:, 1])


def test_flame_rig(tmp_path) -> None:
    from mmface_studio.rig.flame import load_flame_rig
    from mmface_studio.rig.flame.synthetic import write_synthetic_flame

    rig = load_flame_rig(write_synthetic_flame(tmp_path / "flame.pkl", vertex_count_hint=800))
    perf = expression_tour(FLAME56, fps=25.0, seconds_per_shape=0.2)
    first = export_performance(perf, rig, tmp_path / "out" / "flame.obj", range="40:40")
    assert match_triangles(load(first), rig, rig.deform(perf.values[:, 40])) < 1e-5


def test_cancel_midway_leaves_no_files(tmp_path, head, tour) -> None:
    seen: list[float] = []

    def cancel() -> bool:
        return len(seen) >= 5

    with pytest.raises(ExportCancelled):
        obj_sequence.write_to_file(tour, head, tmp_path / "head.obj", options={"range": "0:30"},
                                   progress=lambda f, m: seen.append(f), cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_existing_sequence_untouched_when_cancelled(tmp_path, head, tour) -> None:
    obj_sequence.write_to_file(tour, head, tmp_path / "head.obj", options={"range": "0:2"})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ExportCancelled):
        obj_sequence.write_to_file(tour, head, tmp_path / "head.obj", options={"range": "200:202"},
                                   cancel=lambda: True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_unwritable_target_is_a_clear_error(tmp_path, head, tour) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="Could not write"):
        obj_sequence.write_to_file(tour, head, blocker / "head.obj", options={"range": "0:1"})
    with pytest.raises(ExportError, match="after the last frame"):
        obj_sequence.write_to_file(tour, head, tmp_path / "head.obj", options={"range": "5000:"})
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
