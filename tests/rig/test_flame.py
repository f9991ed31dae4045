"""FLAME rig: safe loading of FLAME files and FLAME's deformation, on a synthetic FLAME-format head."""

from __future__ import annotations

import pickle
import pickletools
import sys
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.rig.base import RigError
from mmface_studio.rig.flame import FlameModelError, FlameRig, load_flame_model, load_flame_rig
from mmface_studio.rig.flame.synthetic import (
    MALICIOUS_GLOBALS,
    synthetic_flame_dict,
    write_malicious_pickle,
    write_synthetic_flame,
    write_synthetic_flame_npz,
)
from mmface_studio.rig.skinning import rodrigues

SHARED_FLAME = Path(__file__).resolve().parents[3] / "shared" / "flame"
HINT = 2000


@pytest.fixture(scope="module")
def flame_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_flame(tmp_path_factory.mktemp("flame") / "generic_model.pkl", vertex_count_hint=HINT)


@pytest.fixture()
def rig(flame_file: Path) -> FlameRig:
    return load_flame_rig(flame_file)


def _globals_in(path: Path) -> set[str]:
    """Globals a pickle names, read with pickletools (which never executes anything)."""
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings = (strings + [arg])[-2:]
        elif op.name == "STACK_GLOBAL":
            names.add(".".join(strings))
    return names


def _reference_flame(model, beta: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """FLAME's forward pass written out directly in float64 (independent of the rig's precomputation)."""
    vec = FlameRig(model).params(params).astype(np.float64)
    psi = vec[:50]
    order = ("global", "neck", "jaw", "left_eye", "right_eye")
    index = FlameRig(model).space.index
    pose = np.array([[vec[index[f"{j}_{a}"]] for a in "xyz"] for j in order])
    v = model.v_template.astype(np.float64) + np.einsum("vck,k->vc", model.shapedirs[:, :, : len(beta)], beta)
    v += np.einsum("vck,k->vc", model.exprdirs[:, :, :50], psi)
    joints = model.J_regressor.astype(np.float64) @ v
    rot = rodrigues(pose)
    v = v + np.einsum("vck,k->vc", model.posedirs, (rot[1:] - np.eye(3)).ravel())
    world = []
    for j, parent in enumerate(model.parents):
        local = np.eye(4)
        local[:3, :3] = rot[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0.0)
        world.append(local if parent < 0 else world[parent] @ local)
    skin = []
    for j, g in enumerate(world):  # FLAME's "A" matrices: remove the rest joint position
        a = g.copy()
        a[:3, 3] -= g[:3, :3] @ joints[j]
        skin.append(a)
    blended = np.einsum("vj,jab->vab", model.weights.astype(np.float64), np.array(skin))
    return np.einsum("vab,vb->va", blended[:, :3, :3], v) + blended[:, :3, 3]


# --------------------------------------------------------------------------- loading


def test_synthetic_file_uses_the_globals_real_flame_files_use(flame_file: Path) -> None:
    assert _globals_in(flame_file) == {
        "chumpy.ch.Ch", "scipy.sparse.csc.csc_matrix", "numpy.core.multiarray._reconstruct",
        "numpy.ndarray", "numpy.dtype", "__builtin__.set",
    }
    with pytest.raises(UnicodeDecodeError):  # Python 2 str payloads: only encoding="latin1" reads them
        pickle.loads(flame_file.read_bytes())


def test_synthetic_file_loads_without_chumpy(flame_file: Path) -> None:
    model = load_flame_model(flame_file)
    nv = model.vertex_count
    assert abs(nv - HINT) <= 5
    assert model.faces.dtype == np.int32 and model.faces.shape[1] == 3
    assert model.shapedirs.shape == (nv, 3, 10) and model.exprdirs.shape == (nv, 3, 50)
    assert model.posedirs.shape == (nv, 3, 36)
    assert model.J_regressor.shape == (5, nv) and model.J_regressor.dtype == np.float32
    assert model.weights.shape == (nv, 5)
    np.testing.assert_allclose(model.weights.sum(axis=1), 1.0, atol=1e-6)
    assert model.parents.tolist() == [-1, 0, 1, 1, 1]
    assert "chumpy" not in sys.modules


def test_rig_topology(rig: FlameRig) -> None:
    assert rig.space.name == "flame56"
    assert [p.name for p in rig.parts] == ["skin", "eyes"]
    assert [p.material for p in rig.parts] == ["skin", "eye"]
    assert sum(len(p.faces) for p in rig.parts) == rig.face_count
    assert len(rig.parts[1].faces) > 0
    assert [j.name for j in rig.joints] == ["global", "neck", "jaw", "eye_left", "eye_right"]
    assert rig.skin_weights.shape == (rig.vertex_count, 5)
    assert rig.blendshape_names == tuple(f"expr{i:02d}" for i in range(50))
    assert rig.blendshape_deltas().shape == (50, rig.vertex_count, 3)
    lo, hi = rig.bounds()
    height = hi[1] - lo[1]
    assert 0.17 < height < 0.26, "about 0.2 m tall, Y-up"
    eyes = np.array([j.rest_position for j in rig.joints[3:]])
    assert eyes[0, 0] > 0 > eyes[1, 0], "left eye on +X, right eye on -X"
    assert np.all(eyes[:, 2] > rig.joints[1].rest_position[2]), "the face looks toward +Z"
    colors = rig.vertex_colors()
    assert colors is not None and colors.shape == (rig.vertex_count, 4)


def test_open_style_and_npz_files_load_the_same_model(flame_file: Path, tmp_path: Path) -> None:
    ref = load_flame_model(flame_file)
    open_style = write_synthetic_flame(tmp_path / "flame2023_Open.pkl", vertex_count_hint=HINT, chumpy_style=False)
    assert "numpy._core.numeric._frombuffer" in _globals_in(open_style) or "numpy.core.numeric._frombuffer" in \
        _globals_in(open_style)
    npz = write_synthetic_flame_npz(tmp_path / "flame.npz", vertex_count_hint=HINT)
    for other in (load_flame_model(open_style), load_flame_model(npz)):
        for key in ("v_template", "faces", "shapedirs", "exprdirs", "posedirs", "J_regressor", "weights", "parents"):
            np.testing.assert_array_equal(getattr(other, key), getattr(ref, key), err_msg=key)


def test_uvs_come_from_vt_ft(tmp_path: Path) -> None:
    rig = load_flame_rig(write_synthetic_flame(tmp_path / "uv.pkl", vertex_count_hint=600, with_uvs=True))
    assert rig.uvs is not None and rig.face_uvs is not None
    assert rig.face_uvs.shape == rig.faces.shape and rig.face_uvs.max() < len(rig.uvs)


def test_chumpy_select_nodes_are_evaluated(tmp_path: Path) -> None:
    """MANO/SMPL-family files store some arrays as lazy ``chumpy.reordering.Select`` nodes over a ``Ch``."""
    from mmface_studio.rig.flame.synthetic import _ch, _Object, _py2_pickle

    data = synthetic_flame_dict(vertex_count_hint=400)
    full = np.concatenate([data["shapedirs"], np.ones_like(data["shapedirs"][:, :, :5])], axis=2)
    keep = np.arange(full.size).reshape(full.shape)[:, :, : data["shapedirs"].shape[2]]
    data["shapedirs"] = _Object("chumpy.reordering", "Select", {
        "a": _ch(full), "idxs": keep.ravel(), "preferred_shape": keep.shape, "_dirty_vars": set(), "_itr": None})
    path = tmp_path / "select.pkl"
    path.write_bytes(_py2_pickle(data))
    model = load_flame_model(path)
    np.testing.assert_allclose(model.exprdirs, synthetic_flame_dict(vertex_count_hint=400)["shapedirs"][:, :, 10:],
                               atol=1e-7)


@pytest.mark.skipif(not any(SHARED_FLAME.glob("*.pkl")), reason=f"no real FLAME .pkl in {SHARED_FLAME}")
def test_real_flame_file_loads() -> None:
    for path in sorted(SHARED_FLAME.glob("*.pkl")):
        rig = load_flame_rig(path)
        assert rig.vertex_count == 5023, path.name
        assert rig.model.n_shape == 300 and rig.model.n_expr >= 50
        assert np.allclose(rig.deform(rig.params()), rig.rest_vertices(), atol=1e-6)
        opened = rig.deform(rig.params({"jaw_x": 0.3}))
        assert np.abs(opened - rig.rest_vertices()).max() > 0.005


# --------------------------------------------------------------------------- deformation


def test_neutral_deform_is_the_template(rig: FlameRig) -> None:
    out = rig.deform(rig.params())
    assert out.dtype == np.float32 and out.shape == (rig.vertex_count, 3)
    np.testing.assert_allclose(out, rig.model.v_template, atol=1e-6)


def test_deform_matches_flames_formula(rig: FlameRig) -> None:
    rng = np.random.default_rng(3)
    rig.set_identity({"shape00": 1.5, "shape03": -2.0, "shape07": 0.7})
    beta = np.array([rig.identity()[f"shape{i:02d}"] for i in range(10)])
    for _ in range(3):
        params = {name: float(rng.uniform(-0.8, 0.8)) * (2.0 if name.startswith("expr") else 0.5)
                  for name in rig.space.names}
        expected = _reference_flame(rig.model, beta, params)
        np.testing.assert_allclose(rig.deform(params), expected, atol=2e-5)


def test_jaw_opens_the_mouth_and_leaves_the_forehead(rig: FlameRig) -> None:
    rest = rig.rest_vertices()
    x, y, z = rest.T
    chin = (np.abs(x) < 0.012) & (y > -0.08) & (y < -0.052) & (z > 0.04)
    forehead = (y > 0.06) & (z > 0.0)
    assert chin.sum() >= 3 and forehead.sum() >= 10
    opened = rig.deform({"jaw_x": 0.3})
    assert np.all(opened[chin, 1] < rest[chin, 1] - 0.005), "chin and lower lip drop"
    np.testing.assert_allclose(opened[forehead], rest[forehead], atol=1e-6)


def test_global_rotation_is_rigid(rig: FlameRig) -> None:
    rest = rig.rest_vertices().astype(np.float64)
    posed = rig.deform({"global_x": 0.3, "global_y": -0.6, "global_z": 0.2}).astype(np.float64)
    assert np.abs(posed - rest).max() > 0.02
    ids = np.random.default_rng(0).choice(len(rest), 300, replace=False)
    d_rest = np.linalg.norm(rest[ids, None] - rest[None, ids], axis=-1)
    d_posed = np.linalg.norm(posed[ids, None] - posed[None, ids], axis=-1)
    np.testing.assert_allclose(d_posed, d_rest, atol=2e-6)


@pytest.mark.parametrize("side, joint", [("left", 3), ("right", 4)])
def test_eyes_rotate_about_their_centres(rig: FlameRig, side: str, joint: int) -> None:
    rest = rig.rest_vertices()
    eye = np.argmax(rig.skin_weights, axis=1) == joint
    centre = rig.joints[joint].rest_position
    posed = rig.deform({f"{side}_eye_y": 0.4, f"{side}_eye_x": -0.2})
    assert np.abs(posed[eye] - rest[eye]).max() > 0.003, "the eyeball turned"
    np.testing.assert_allclose(np.linalg.norm(posed[eye] - centre, axis=1),
                               np.linalg.norm(rest[eye] - centre, axis=1), atol=1e-6)
    np.testing.assert_allclose(posed[~eye], rest[~eye], atol=1e-6)


def test_expression_channels_are_linear(rig: FlameRig) -> None:
    rest = rig.rest_vertices()
    deltas = rig.blendshape_deltas()
    for k, a in ((0, 2.0), (7, -1.5), (31, 3.0)):
        out = rig.deform({f"expr{k:02d}": a})
        np.testing.assert_allclose(out - rest, a * deltas[k], atol=2e-6)
    both = rig.deform({"expr00": 1.0, "expr01": 2.0})
    np.testing.assert_allclose(both - rest, deltas[0] + 2.0 * deltas[1], atol=2e-6)
    assert np.abs(deltas[0]).max() > 1e-3


def test_identity_sliders_change_the_shape(rig: FlameRig) -> None:
    controls = rig.identity_controls()
    assert [c.name for c in controls] == [f"shape{i:02d}" for i in range(10)]
    assert all(c.minimum == -3.0 and c.maximum == 3.0 for c in controls)
    before = rig.rest_vertices()
    jaw_before = rig.joints[2].rest_position.copy()
    rig.set_identity({"shape00": 2.0, "shape01": -1.0})
    after = rig.rest_vertices()
    assert np.abs(after - before).max() > 0.002
    assert not np.allclose(rig.joints[2].rest_position, jaw_before)
    np.testing.assert_allclose(rig.deform(rig.params()), after, atol=1e-6)
    assert rig.identity()["shape00"] == 2.0
    rig.set_identity({"shape00": 0.0, "shape01": 0.0})
    np.testing.assert_allclose(rig.rest_vertices(), before, atol=1e-6)
    with pytest.raises(RigError, match="not an identity control"):
        rig.set_identity({"nose_size": 1.0})


def test_deform_accepts_mappings_and_rejects_wrong_vectors(rig: FlameRig) -> None:
    np.testing.assert_allclose(rig.deform({"jaw_x": 0.2}), rig.deform(rig.params({"jaw_x": 0.2})))
    with pytest.raises(RigError, match="expects"):
        rig.deform(np.zeros(10, dtype=np.float32))


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("payload", MALICIOUS_GLOBALS)
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, payload: str) -> None:
    path = tmp_path / "generic_model.pkl"
    sentinel = write_malicious_pickle(path, payload=payload)
    assert payload in _globals_in(path), "the file really carries the payload"
    with pytest.raises(FlameModelError) as info:
        load_flame_model(path)
    message = str(info.value)
    assert "refused" in message and payload in message and "Nothing from it was executed" in message
    assert not sentinel.exists(), "the payload ran"


def _dump(obj: object, path: Path) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.with_name("nowhere.pkl"), "not found"),
        (lambda p: (p.write_bytes(b""), p)[1], "is empty"),
        (lambda p: (p.write_text("FLAME model, see website\nhttps://flame.is.tue.mpg.de\n"), p)[1], "text file"),
        (lambda p: (p.write_bytes(bytes(range(7, 250))), p)[1], "not a pickle"),
        (lambda p: _dump([1, 2, 3], p), "holds a list"),
        (lambda p: _dump({"model": "resnet", "weights_url": "x"}, p), "not a FLAME model"),
        (lambda p: (p.mkdir(), p)[1], "is a folder"),
    ],
    ids=["missing", "empty", "text", "binary-junk", "list", "unrelated-dict", "folder"],
)
def test_bad_files_give_specific_errors(tmp_path: Path, make, match: str) -> None:
    path = make(tmp_path / "model.pkl")
    with pytest.raises(FlameModelError, match=match):
        load_flame_model(path)


@pytest.mark.parametrize("fraction", [0.5, 0.999, 0.0001])
def test_truncated_file(flame_file: Path, tmp_path: Path, fraction: float) -> None:
    data = flame_file.read_bytes()
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(data[: max(2, int(len(data) * fraction))])
    with pytest.raises(FlameModelError, match="truncated"):
        load_flame_model(path)


def test_missing_keys_are_named(tmp_path: Path) -> None:
    data = synthetic_flame_dict(vertex_count_hint=400)
    del data["posedirs"], data["weights"]
    with pytest.raises(FlameModelError, match="missing key.*posedirs, weights"):
        load_flame_model(_dump(data, tmp_path / "partial.pkl"))


def test_wrong_shapes_are_reported(tmp_path: Path) -> None:
    data = synthetic_flame_dict(vertex_count_hint=400)
    data["weights"] = data["weights"][:-7]
    with pytest.raises(FlameModelError, match=r"weights has shape \(\d+, 5\), expected"):
        load_flame_model(_dump(data, tmp_path / "bad_weights.pkl"))
    data = synthetic_flame_dict(vertex_count_hint=400)
    data["f"] = data["f"].astype(np.int64) + 10_000
    with pytest.raises(FlameModelError, match="refers to vertex"):
        load_flame_model(_dump(data, tmp_path / "bad_faces.pkl"))


def test_npz_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flame.npz"
    np.savez(path, v_template=np.zeros((5, 3)), f=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(FlameModelError, match="pickled Python objects"):
        load_flame_model(path)


def test_flame_model_error_is_a_rig_error() -> None:
    assert issubclass(FlameModelError, RigError)
