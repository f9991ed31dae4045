"""Evaluation metrics on cases whose answer is known in advance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52, FLAME56, SpaceError
from mmface_studio.engine import metrics as lipsync
from mmface_studio.engine.checkpoints import load_checkpoint, save_checkpoint
from mmface_studio.rig.loading import load_rig
from mmface_studio.training import metrics as M
from mmface_studio.training.retrieval import RetrievalConfig, RetrievalModel, info_nce

JAW = ARKIT52.index["jawOpen"]


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def head():
    return load_rig()


@pytest.fixture(scope="module")
def flame(tmp_path_factory):
    from mmface_studio.rig.flame.synthetic import write_synthetic_flame_npz

    return load_rig(write_synthetic_flame_npz(tmp_path_factory.mktemp("flame") / "f.npz", vertex_count_hint=1200))


def _arkit(values: dict[str, np.ndarray], frames: int, fps: float = 30.0) -> Performance:
    v = np.zeros((len(ARKIT52), frames), np.float32)
    for name, curve in values.items():
        v[ARKIT52.index[name]] = curve
    return Performance(fps, ARKIT52, v)


# --- vertex errors ------------------------------------------------------------------------------------


def test_an_offset_of_d_mm_is_an_error_of_d_mm() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(20, 50, 3)) * 10.0  # mm
    direction = np.array([1.0, 2.0, 2.0]) / 3.0
    pred = ref + 1.7 * direction
    assert M.lve(pred, ref) == pytest.approx(1.7)
    assert M.fve(pred, ref, np.arange(10)) == pytest.approx(1.7)
    assert M.lve(ref, ref) == 0.0 and M.fve(ref, ref) == 0.0
    pred[:, 3] += np.array([0.0, 4.0, 0.0])  # one vertex further off: the max follows it, the mean barely
    assert M.lve(pred, ref) > 4.0 and M.fve(pred, ref) < 1.7 + 4.0 / 50 + 1e-9


def test_lve_is_the_per_frame_max_averaged_over_frames() -> None:
    ref = np.zeros((2, 3, 3))
    pred = ref.copy()
    pred[0, 0, 0], pred[0, 1, 0] = 3.0, 1.0  # frame 0: max 3
    pred[1, 2, 1] = 1.0  # frame 1: max 1
    assert M.max_vertex_error(pred, ref) == pytest.approx(2.0)
    assert M.mean_vertex_error(pred, ref) == pytest.approx(5.0 / 6.0)


def test_regions_of_the_built_in_head(head) -> None:
    r = M.face_regions(head)
    assert r.mouth_method == "landmarks"
    assert set(r.lips) <= set(r.face) and set(r.upper_face) <= set(r.face)
    assert not set(r.lips) & set(r.upper_face)
    assert 100 < r.lips.size < r.face.size and r.upper_face.size > 100
    assert set(lipsync.lip_landmarks(head).vertices) <= set(r.lips), "the inner-lip landmarks are lip vertices"


def test_identical_performances_have_zero_error_and_head_pose_does_not_count(head) -> None:
    t = np.linspace(0, 1, 60)
    ref = _arkit({"jawOpen": 0.5 * t, "mouthSmileLeft": t, "browInnerUp": 1 - t}, 60)
    zero = M.vertex_errors(ref, ref, head)
    assert (zero.lve_mm, zero.lip_mean_mm, zero.fve_mm, zero.face_max_mm, zero.upper_face_max_mm) == (0, 0, 0, 0, 0)
    turned = _arkit({"jawOpen": 0.5 * t, "mouthSmileLeft": t, "browInnerUp": 1 - t, "HeadYaw": 0.4 + 0 * t,
                     "LeftEyeYaw": 0.2 + 0 * t}, 60)
    assert M.vertex_errors(turned, ref, head).lve_mm == pytest.approx(0.0, abs=1e-6)


def test_a_time_shift_costs_what_the_jaw_travels_in_that_time(head) -> None:
    frames, shift = 90, 3
    ramp = np.linspace(0.0, 0.9, frames)
    late = np.concatenate([np.zeros(shift), ramp[:-shift]])
    err = M.vertex_errors(_arkit({"jawOpen": late}, frames), _arkit({"jawOpen": ramp}, frames), head)
    # Vertices are linear in the weights: every lip vertex is off by |dw| * |jawOpen delta| in each frame.
    travel = np.linalg.norm(np.asarray(head.blendshape_deltas())[JAW], axis=1) * 1e3
    lips = M.face_regions(head).lips
    dw = np.abs(ramp - late).mean()
    assert err.lve_mm == pytest.approx(dw * travel[lips].max(), rel=1e-4)
    assert err.lip_mean_mm == pytest.approx(dw * travel[lips].mean(), rel=1e-4)
    assert err.upper_face_max_mm < 0.2 * err.lve_mm, "the jaw barely moves the upper face"
    assert err.frames == frames and err.fps == 30.0


def test_another_frame_rate_is_resampled_before_comparing(head) -> None:
    ramp30 = np.linspace(0.0, 0.6, 31)
    ramp60 = np.linspace(0.0, 0.6, 61)
    gen = _arkit({"jawOpen": ramp60}, 61, fps=60.0)
    err = M.vertex_errors(gen, _arkit({"jawOpen": ramp30}, 31), head)
    assert err.frames == 31 and err.lve_mm == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(SpaceError):
        M.vertex_errors(Performance(30.0, FLAME56, np.zeros((len(FLAME56), 31), np.float32)),
                        _arkit({}, 31), head)


def test_flame_performances_are_measured_on_a_flame_head(flame) -> None:
    r = M.face_regions(flame)
    assert r.lips.size > 10 and r.face.size > r.lips.size
    t = np.linspace(0, 1, 20, dtype=np.float32)
    v = np.zeros((len(FLAME56), 20), np.float32)
    v[FLAME56.index["jaw_x"]] = 0.3 * t
    v[FLAME56.index["expr03"]] = t
    ref = Performance(25.0, FLAME56, v)
    opened = v.copy()
    opened[FLAME56.index["jaw_x"]] += 0.1
    turned = v.copy()
    turned[FLAME56.index["global_y"]] = 0.5
    assert M.vertex_errors(ref, ref, flame).lve_mm == 0.0
    assert M.vertex_errors(Performance(25.0, FLAME56, turned), ref, flame).lve_mm == pytest.approx(0.0, abs=1e-4)
    assert M.vertex_errors(Performance(25.0, FLAME56, opened), ref, flame).lve_mm > 1.0
    quality = M.lipsync_quality(ref, flame)
    assert quality["jaw_jitter"] == pytest.approx(lipsync.jitter(v[FLAME56.index["jaw_x"]]))


# --- lip-sync quality ---------------------------------------------------------------------------------


def test_closure_rate_and_jitter_come_from_the_lip_sync_measures(head) -> None:
    frames = 90
    jaw = np.full(frames, 0.6)
    jaw[30:37] = 0.0  # lips shut from 1.0 s to 1.2 s
    perf = _arkit({"jawOpen": jaw}, frames)
    q = M.lipsync_quality(perf, head, [("P", 1.0, 1.2), ("M", 2.0, 2.1), ("AA", 0.2, 0.5)])
    assert q["closure_rate"] == 0.5, "closed in the /p/, open in the /m/"
    assert q["jaw_jitter"] == pytest.approx(lipsync.jitter(jaw))
    assert q["lip_gap_jitter_mm"] == pytest.approx(lipsync.jitter(lipsync.lip_gap(head, perf)) * 1e3)
    assert np.isnan(M.lipsync_quality(perf, head)["closure_rate"])


# --- distributions ------------------------------------------------------------------------------------


def test_diversity() -> None:
    same = np.tile([1.0, 2.0, 3.0], (50, 1))
    assert M.diversity(same) == 0.0
    assert M.diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    rng = np.random.default_rng(1)
    wide, narrow = rng.normal(size=(400, 8)), 0.1 * rng.normal(size=(400, 8))
    assert M.diversity(wide) == pytest.approx(10 * M.diversity(narrow), rel=0.2)
    assert M.diversity(wide, seed=3) == M.diversity(wide, seed=3)


def test_frechet_distance() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(size=(3000, 6)) @ rng.normal(size=(6, 6))
    assert M.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0])
    assert M.frechet_distance(real, real + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    # Twice as spread: Tr(S) + Tr(4S) - 2 Tr(2S) = Tr(S).
    centred = real - real.mean(axis=0)
    assert M.frechet_distance(centred, 2 * centred) == pytest.approx(np.trace(np.cov(centred, rowvar=False)), rel=1e-6)
    few = rng.normal(size=(5, 6))  # fewer samples than dimensions: singular covariances stay finite
    assert np.isfinite(M.frechet_distance(few, few + 1.0))


def test_pose_fid_with_a_feature_extractor() -> None:
    class MeanPose:
        def features(self, poses: torch.Tensor) -> torch.Tensor:
            return torch.cat([poses.mean(dim=1), poses.std(dim=1)], dim=1)

    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 40, 3)).astype(np.float32)
    assert M.pose_fid_with(MeanPose(), real, real, batch_size=64) == pytest.approx(0.0, abs=1e-6)
    assert M.pose_fid_with(MeanPose(), real, real + 0.5, batch_size=64) == pytest.approx(0.75, rel=1e-4)


def test_r_precision() -> None:
    rng = np.random.default_rng(4)
    text = rng.normal(size=(320, 16))
    assert np.array_equal(M.r_precision(text, text), [1.0, 1.0, 1.0])
    assert np.all(M.r_precision(text, text + 0.05 * rng.normal(size=text.shape)) > 0.99)
    chance = M.r_precision(rng.normal(size=(32 * 200, 16)), rng.normal(size=(32 * 200, 16)), top_k=3)
    assert chance == pytest.approx(np.array([1, 2, 3]) / 32, abs=0.012)
    assert M.r_precision(text[:40], text[:40] + 100 * rng.normal(size=(40, 16)), top_k=32)[-1] == 1.0, \
        "the incomplete last batch is dropped: 32 candidates, so top-32 always hits"
    assert M.matching_score(text, text + np.array([3.0, 4.0] + [0.0] * 14)) == pytest.approx(5.0)


# --- emotion fidelity ---------------------------------------------------------------------------------


def test_emotion_fidelity() -> None:
    requested = np.zeros((6, 7))
    requested[0, 1] = 0.9  # happiness
    requested[1, 1] = 0.3
    requested[2, 2] = 0.8  # sadness
    requested[3, 6] = 0.6  # anger
    requested[4, 3] = 0.05  # too faint: neutral
    requested[5, 0] = 1.0  # neutral
    assert list(M.dominant_emotion(requested)) == [1, 1, 2, 6, 0, 0]
    logits = np.full((6, 7), -2.0)
    for row, cls in enumerate([1, 1, 2, 3, 0, 0]):  # the anger clip is read as surprise
        logits[row, cls] = 2.0
    logits[0, 1] = 4.0  # the stronger request looks stronger
    fid = M.emotion_fidelity(requested, logits)
    assert fid.accuracy == pytest.approx(5 / 6) and fid.clips == 6
    assert fid.recall == {"neutral": 1.0, "happiness": 1.0, "sadness": 1.0, "anger": 0.0}
    assert fid.confusion[6, 3] == 1 and fid.confusion.sum() == 6
    assert fid.intensity_r > 0
    with pytest.raises(ValueError, match="7 columns"):
        M.dominant_emotion(np.zeros((2, 8)))


def test_clip_emotion_is_a_majority_vote_over_frames() -> None:
    frames = np.full((30, 7), 0.0)
    frames[:20, 1] = 0.5  # 2/3 of the frames look a little happy
    frames[20:, 6] = 9.0  # a third look very angry: the mean probability would say anger
    label, probs = M.clip_emotion(frames, frames=30)
    assert label == 1 and probs.shape == (7,) and probs[6] > probs[1]


# --- retrieval model ----------------------------------------------------------------------------------


def test_retrieval_model_learns_pairs_and_saves_as_a_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = RetrievalConfig(text_dim=24, hidden=32, latent_dim=16, dropout=0.0)
    model = RetrievalModel(config)
    text, motion = torch.randn(16, 24), torch.randn(16, 30, config.motion_dim)
    lengths = torch.randint(12, 31, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model.loss(text, motion, lengths).item()
    for _ in range(40):
        loss = model.loss(text, motion, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    model.eval()
    with torch.no_grad():
        t, m = model(text, motion, lengths)
    assert torch.allclose(t.norm(dim=-1), torch.ones(16)) and np.all(M.r_precision(t, m, batch_size=16) == 1.0)
    info_nce(t, m)  # the loss function on its own
    save_checkpoint(model, tmp_path / "retrieval", metadata={"fps": 30.0, "feature_type": "motion"})
    loaded, info = load_checkpoint(tmp_path / "retrieval")
    assert info.family == "retrieval" and isinstance(loaded, RetrievalModel)
    with torch.no_grad():
        assert torch.allclose(loaded.encode_motion(motion, lengths), m, atol=1e-6)
