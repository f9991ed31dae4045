"""USD export, checked by usd-core itself: its validators (what ``usdchecker`` runs) and UsdSkel's own
skinning and blendshape evaluation of the written file, compared with ``rig.deform``."""

from __future__ import annotations

import numpy as np
import pytest

pxr = pytest.importorskip("pxr")

from pxr import Usd, UsdGeom, UsdShade, UsdSkel, UsdValidation  # noqa: E402

from mmface_studio.core.performance import Performance  # noqa: E402
from mmface_studio.core.spaces import ARKIT52, FLAME56  # noqa: E402
from mmface_studio.core.tour import expression_tour  # noqa: E402
from mmface_studio.export import ExportOptions, export_performance, usd  # noqa: E402
from mmface_studio.export.errors import ExportCancelled, ExportError  # noqa: E402


@pytest.fixture(scope="module")
def head():
    from mmface_studio.rig.default_head import load_default_head

    return load_default_head()


@pytest.fixture(scope="module")
def tour() -> Performance:
    return expression_tour(ARKIT52, fps=24.0, seconds_per_shape=0.25)


def validation_errors(path) -> list[str]:
    """Everything usd-core's registered validators (usdchecker's rules) report about a file."""
    stage = Usd.Stage.Open(str(path))
    context = UsdValidation.ValidationContext(UsdValidation.ValidationRegistry().GetOrLoadAllValidators())
    return [f"{e.GetName()}: {e.GetMessage()}" for e in context.Validate(stage)]


class SkelEvaluator:
    """Poses the exported mesh with UsdSkel's own code: blendshapes, then linear blend skinning."""

    def __init__(self, path) -> None:
        self.stage = Usd.Stage.Open(str(path))
        root = UsdSkel.Root(self.stage.GetDefaultPrim())
        self.cache = UsdSkel.Cache()
        self.cache.Populate(root, Usd.PrimDefaultPredicate)
        self.mesh = next(UsdGeom.Mesh(p) for p in self.stage.Traverse() if p.IsA(UsdGeom.Mesh))
        self.skinning = self.cache.GetSkinningQuery(self.mesh.GetPrim())
        binding = UsdSkel.BindingAPI(self.mesh.GetPrim())
        self.skel_query = self.cache.GetSkelQuery(binding.GetInheritedSkeleton())
        self.anim = self.skel_query.GetAnimQuery()
        self.blend = UsdSkel.BlendShapeQuery(binding)

    def points(self, time: float) -> np.ndarray:
        points = self.mesh.GetPointsAttr().Get()
        weights = self.anim.ComputeBlendShapeWeights(time)
        mapped = self.skinning.GetBlendShapeMapper().Remap(weights)
        sub_weights, shape_ids, sub_ids = self.blend.ComputeSubShapeWeights(mapped)
        self.blend.ComputeDeformedPoints(sub_weights, shape_ids, sub_ids, self.blend.ComputeBlendShapePointIndices(),
                                         self.blend.ComputeSubShapePointOffsets(), points)
        xforms = self.skel_query.ComputeSkinningTransforms(time)
        self.skinning.ComputeSkinnedPoints(xforms, points, time)
        return np.array(points, dtype=np.float64)


@pytest.mark.parametrize("suffix", [".usda", ".usdc", ".usd"])
def test_usd_validators_report_nothing(tmp_path, head, tour, suffix) -> None:
    path = export_performance(tour, head, tmp_path / f"head{suffix}", range="0:40")
    assert validation_errors(path) == []
    magic = path.read_bytes()[:8]
    assert magic == (b"#usda 1." if suffix == ".usda" else b"PXR-USDC")  # .usd is written as binary crate


def test_stage_metadata_skeleton_and_materials(tmp_path, head, tour) -> None:
    path = usd.write_to_file(tour, head, tmp_path / "head.usda", options={"range": "12:", "step": 2})
    stage = Usd.Stage.Open(str(path))
    assert stage.GetTimeCodesPerSecond() == stage.GetFramesPerSecond() == 24.0
    assert stage.GetStartTimeCode() == 12.0
    assert stage.GetEndTimeCode() == 12 + 2 * ((tour.frame_count - 1 - 12) // 2)
    assert UsdGeom.GetStageUpAxis(stage) == "Y" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    skeleton = UsdSkel.Skeleton(stage.GetPrimAtPath("/Head/Skeleton"))
    joints = list(skeleton.GetJointsAttr().Get())
    assert [j.split("/")[-1] for j in joints] == [j.name.replace(".", "_") for j in head.joints]
    assert list(skeleton.GetJointNamesAttr().Get()) == [j.name for j in head.joints]
    binds = skeleton.GetBindTransformsAttr().Get()
    for joint, matrix in zip(head.joints, binds, strict=True):
        assert np.allclose(np.array(matrix.ExtractTranslation()), joint.rest_position, atol=1e-6)
    anim = UsdSkel.Animation(stage.GetPrimAtPath("/Head/Animation"))
    for attr in (anim.GetRotationsAttr(), anim.GetTranslationsAttr(), anim.GetScalesAttr(),
                 anim.GetBlendShapeWeightsAttr()):
        assert attr.GetTimeSamples() == list(np.arange(12.0, stage.GetEndTimeCode() + 1, 2.0))
    assert list(anim.GetBlendShapesAttr().Get()) == list(head.blendshape_names)
    mesh = stage.GetPrimAtPath("/Head/Mesh")
    subsets = UsdGeom.Subset.GetGeomSubsets(UsdGeom.Imageable(mesh), "face", "materialBind")
    assert sorted(s.GetPrim().GetName() for s in subsets) == sorted(p.name for p in head.parts)
    assert sum(len(s.GetIndicesAttr().Get()) for s in subsets) == head.face_count
    for subset in subsets:
        material, _ = UsdShade.MaterialBindingAPI(subset.GetPrim()).ComputeBoundMaterial()
        assert material and material.GetPrim().GetParent().GetName() == "Materials"
    st = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("st")
    assert st.GetInterpolation() == "faceVarying"
    assert np.allclose(np.array(st.ComputeFlattened()), head.uvs[head.face_uvs.reshape(-1)], atol=1e-7)


def test_blendshapes_are_sparse_and_exact(tmp_path, head, tour) -> None:
    stage = Usd.Stage.Open(str(usd.write_to_file(tour, head, tmp_path / "head.usdc", options={"range": "0:1"})))
    deltas = head.blendshape_deltas()
    for s, name in enumerate(head.blendshape_names):
        shape = UsdSkel.BlendShape(stage.GetPrimAtPath(f"/Head/Mesh/{name}"))
        rows = np.array(shape.GetPointIndicesAttr().Get())
        assert len(rows) < head.vertex_count
        full = np.zeros_like(deltas[s])
        full[rows] = np.array(shape.GetOffsetsAttr().Get())
        assert np.array_equal(full, deltas[s])


def test_usdskel_evaluation_matches_rig_deform(tmp_path, head, tour) -> None:
    path = usd.write_to_file(tour, head, tmp_path / "head.usdc")
    evaluator = SkelEvaluator(path)
    frames = list(range(0, tour.frame_count, 11)) + [tour.frame_count - 1]
    pose_rows = [ARKIT52.index[n] for n in ("HeadYaw", "HeadPitch", "LeftEyeYaw")]
    assert any(tour.values[pose_rows, f].any() for f in frames)
    for frame in frames:
        expected = head.deform(tour.values[:, frame])
        error = np.abs(evaluator.points(float(frame)) - expected).max()
        assert error < 1e-5, (frame, error)


def test_z_up_centimetres(tmp_path, head, tour) -> None:
    opts = ExportOptions(up="Z", units="cm", frame_range=(300, 330), step=5)
    path = usd.write_to_file(tour, head, tmp_path / "head.usda", options=opts)
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == pytest.approx(0.01)
    assert validation_errors(path) == []
    evaluator = SkelEvaluator(path)
    for frame in range(300, 331, 5):
        expected = opts.points(head.deform(tour.values[:, frame]))
        assert np.abs(evaluator.points(float(frame)) - expected).max() < 1e-3  # 1e-5 m in centimetres
    top = evaluator.points(300.0)
    assert np.ptp(top[:, 2]) > np.ptp(top[:, 1])  # standing up along Z: taller than deep


def test_flame_rig(tmp_path) -> None:
    from mmface_studio.rig.flame import load_flame_rig
    from mmface_studio.rig.flame.synthetic import write_synthetic_flame

    rig = load_flame_rig(write_synthetic_flame(tmp_path / "flame.pkl", vertex_count_hint=800))
    perf = expression_tour(FLAME56, fps=25.0, seconds_per_shape=0.2)
    path = usd.write_to_file(perf, rig, tmp_path / "flame.usda")
    assert validation_errors(path) == []
    evaluator = SkelEvaluator(path)
    expr_only = [f for f in range(perf.frame_count) if not perf.values[50:, f].any()][::10]
    for frame in expr_only:  # without joint rotations FLAME has no pose correctives: exact
        assert np.abs(evaluator.points(float(frame)) - rig.deform(perf.values[:, frame])).max() < 1e-5


def test_refusals_unwritable_and_cancel(tmp_path, head, tour) -> None:
    with pytest.raises(ExportError, match="flame56 performance"):
        usd.write_to_file(expression_tour(FLAME56), head, tmp_path / "x.usda")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="Could not write"):
        usd.write_to_file(tour, head, blocker / "x.usda")
    with pytest.raises(ExportCancelled):
        usd.write_to_file(tour, head, tmp_path / "c.usdc", cancel=lambda: True)
    target = tmp_path / "late.usdc"
    calls = []
    with pytest.raises(ExportCancelled):
        usd.write_to_file(tour, head, target, cancel=lambda: calls.append(1) or len(calls) > 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
