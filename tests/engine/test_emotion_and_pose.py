"""Emotion track and control, blinks and gaze, head pose: behaviour, incremental re-runs and budgets."""

from __future__ import annotations

import dataclasses
import time
from itertools import pairwise

import numpy as np
import pytest

from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine import (
    EMOTIONS,
    POSE_STYLES,
    Analysis,
    EmotionKey,
    EmotionTrack,
    GenerationRequest,
    Pipeline,
    PoseLock,
    RequestError,
    StageContext,
    synthetic_analysis,
)
from mmface_studio.engine.classic import emotion as em
from mmface_studio.engine.classic.engine import ClassicEngine

FPS = 30.0
HEAD = [ARKIT52.index[n] for n in ("HeadYaw", "HeadPitch", "HeadRoll")]


@pytest.fixture(scope="module")
def minute() -> Analysis:
    return synthetic_analysis(60.0, seed=11)


def _ctx() -> StageContext:
    return StageContext("test", 0.0, 1.0, None, None)


def _best_of(runs: int, call) -> float:
    best = np.inf
    for _ in range(runs):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


# --- emotion track -------------------------------------------------------------------------------------------


def test_parse_merges_keys_at_the_same_time() -> None:
    track = EmotionTrack.parse("happiness:0.8@0, sadness:0.6@3.5, surprise:0.2@3.5~step, anger")
    assert [k.time for k in track.keys] == [0.0, 3.5]
    first, second = track.keys
    assert first.as_dict()["happiness"] == 0.8 and first.as_dict()["anger"] == 1.0
    assert second.as_dict()["sadness"] == 0.6 and second.as_dict()["surprise"] == 0.2
    assert second.interpolation == "step"
    assert EmotionTrack.parse(track.to_text()) == track
    assert EmotionTrack.parse("angry:0.5@2s").keys[0].as_dict()["anger"] == 0.5  # aliases and a unit


@pytest.mark.parametrize(("text", "message"), [
    ("hapiness:0.8@0", "Did you mean 'happiness'"),
    ("suprise:1", "Did you mean 'surprise'"),
    ("boredom:0.5", "Known emotions: neutral, happiness"),
    ("happiness:1.5@0", "between 0 and 1"),
    ("anger:-0.1", "between 0 and 1"),
    ("happiness:lots", "not a number"),
    ("happiness:0.5@soon", "time in 'happiness:0.5@soon' is not a number"),
    ("happiness:0.5@-2", ">= 0 seconds"),
    ("happiness:0.5@nan", "must be finite"),
    ("happiness:0.5@1,happy:0.2@1", "given twice"),
    ("fear:0.5@1~bouncy", "Unknown interpolation"),
])
def test_parse_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(RequestError, match=message.replace("(", r"\(")):
        EmotionTrack.parse(text)


def test_sampling_interpolates_between_keys() -> None:
    track = EmotionTrack((EmotionKey.of(1.0, "linear", happiness=0.0), EmotionKey.of(3.0, "step", happiness=1.0),
                          EmotionKey.of(5.0, "smooth", happiness=0.0, anger=0.5)))
    h = track.sample([0.0, 1.0, 2.0, 3.0, 4.0, 4.99, 5.0, 9.0])[EMOTIONS.index("happiness")]
    np.testing.assert_allclose(h, [0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0], atol=1e-6)
    smooth = EmotionTrack((EmotionKey.of(0.0, happiness=0.0), EmotionKey.of(1.0, happiness=1.0)))
    s = smooth.sample([0.25, 0.5, 0.75])[1]
    np.testing.assert_allclose(s, [0.15625, 0.5, 0.84375], atol=1e-6)  # ease in/out
    with pytest.raises(RequestError, match="between 0 and 1"):
        EmotionKey.of(0.0, fear=2.0)


# --- emotion control -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_expression_rises_monotonically_with_intensity(minute: Analysis, emotion: str) -> None:
    engine = ClassicEngine()
    lipsync = engine.lipsync(minute, FPS, _ctx())
    means, frames = [], []
    for level in (0.0, 0.5, 0.75, 1.0):
        face = engine.emotion(lipsync, EmotionTrack.constant(**{emotion: level}), em.DEFAULT_PRIOR_WEIGHT, _ctx())
        p = em.projection(face.shapes, emotion)
        means.append(float(p.mean()))
        frames.append(p)
    assert means[0] < means[1] < means[2] < means[3], means
    for lower, higher in pairwise(frames):  # and never less on any frame
        assert np.all(higher >= lower - 1e-5)
    assert means[3] - means[0] > 0.5  # clearly visible at full intensity


def test_emotion_changes_articulation_size_slightly(minute: Analysis) -> None:
    engine = ClassicEngine()
    lipsync = engine.lipsync(minute, FPS, _ctx())
    jaw = ARKIT52.index["jawOpen"]

    def speech_jaw(**intensity: float) -> float:
        return float(engine.emotion(lipsync, EmotionTrack.constant(**intensity), 0.0, _ctx()).shapes[jaw].mean())

    neutral = speech_jaw(neutral=1.0)
    assert 1.03 < speech_jaw(happiness=1.0) / neutral < 1.3
    assert 0.7 < speech_jaw(sadness=1.0) / neutral < 0.97


def test_audio_prior_is_mean_centred(minute: Analysis) -> None:
    engine = ClassicEngine()
    lipsync = engine.lipsync(minute, FPS, _ctx())
    times = np.arange(lipsync.n_frames) / FPS
    track = EmotionTrack((EmotionKey(0.0, (0.5,) * len(EMOTIONS)),))  # mid-range: no clipping at 0 or 1
    plain = em.effective_gammas(track, times, lipsync.prior, 0.0)
    with_prior = em.effective_gammas(track, times, lipsync.prior, 0.3)
    assert np.array_equal(plain, track.sample(times))
    delta = with_prior - plain
    assert np.abs(delta).max() > 0.01  # it does vary with prosody...
    np.testing.assert_allclose(delta.mean(axis=1), 0.0, atol=1e-3)  # ...but adds no bias


def test_emotion_edit_reruns_only_the_emotion_stage_within_budget(minute: Analysis) -> None:
    pipeline = Pipeline()
    request = GenerationRequest(emotion="happiness:0.5@0,sadness:0.5@20")
    first = pipeline.run(request, analysis=minute)
    before = dict(pipeline.stage_runs)
    edits = [f"happiness:0.5@0,sadness:0.5@20,anger:{0.1 * k:.1f}@{10 + k}" for k in range(1, 6)]
    times = []
    for text in edits:
        started = time.perf_counter()
        result = pipeline.run(dataclasses.replace(request, emotion=EmotionTrack.parse(text)), analysis=minute)
        times.append(time.perf_counter() - started)
    for stage in ("analysis", "lipsync", "blinks", "pose"):
        assert pipeline.stage_runs[stage] == before[stage], stage
    assert pipeline.stage_runs["emotion"] == before["emotion"] + len(edits)
    assert min(times) <= 0.050, times  # DESIGN 5: emotion edit -> updated animation, 60 s, <= 50 ms
    assert not np.array_equal(first.values, result.values)
    assert np.array_equal(first.values[HEAD], result.values[HEAD])  # pose untouched


# --- blinks and gaze ---------------------------------------------------------------------------------------


def _blinks(values: np.ndarray) -> np.ndarray:
    lid = values[ARKIT52.index["eyeBlinkLeft"]]
    return np.flatnonzero(lid >= 0.999)


@pytest.mark.parametrize("seed", range(5))
def test_blink_rate_is_human(seed: int) -> None:
    analysis = synthetic_analysis(60.0, seed=seed)
    values = Pipeline().run(GenerationRequest(blink_seed=seed), analysis=analysis).values
    count = _blinks(values).size
    assert 12 <= count <= 24, count
    left, right = values[ARKIT52.index["eyeBlinkLeft"]], values[ARKIT52.index["eyeBlinkRight"]]
    assert np.array_equal(left, right)  # symmetric full blinks


def test_blinks_are_quick_and_complete(minute: Analysis) -> None:
    values = Pipeline().run(GenerationRequest(), analysis=minute).values
    lid = values[ARKIT52.index["eyeBlinkLeft"]]
    for f in _blinks(values):
        window = lid[max(f - 6, 0):f + 7]
        shut = np.flatnonzero(window > 0.05)
        # closed-to-open span: frames above 5 % closure last <= 6 frames (~150 ms close + open)
        assert shut.size <= 6 and np.all(np.diff(shut) == 1), window
    wide = values[ARKIT52.index["eyeWideLeft"]]
    assert np.all(wide[_blinks(values)] == 0.0)  # a closed lid is not also wide open


def test_more_blinks_in_pauses_and_under_fear() -> None:
    analysis = synthetic_analysis(180.0, seed=2)
    pipeline = Pipeline()
    neutral = pipeline.run(GenerationRequest(), analysis=analysis).values
    fear = pipeline.run(GenerationRequest(emotion="fear:1"), analysis=analysis).values
    assert _blinks(fear).size > 1.3 * _blinks(neutral).size
    engine = ClassicEngine()
    speaking = engine.prosody(analysis, FPS).speaking
    f = _blinks(neutral)
    per_speaking_s = np.sum(speaking[f]) / speaking.sum()
    per_pause_s = np.sum(~speaking[f]) / (~speaking).sum()
    assert per_pause_s > 1.5 * per_speaking_s


def test_gaze_shapes_match_eye_rotation(minute: Analysis) -> None:
    values = Pipeline().run(GenerationRequest(), analysis=minute).values
    yaw, pitch = values[ARKIT52.index["LeftEyeYaw"]], values[ARKIT52.index["LeftEyePitch"]]
    assert np.array_equal(yaw, values[ARKIT52.index["RightEyeYaw"]])
    assert np.abs(yaw).max() < 0.5 and np.abs(yaw).max() > 0.05  # it does look around
    out_left, in_left = values[ARKIT52.index["eyeLookOutLeft"]], values[ARKIT52.index["eyeLookInLeft"]]
    assert np.all((out_left > 0) == (yaw > 0)) and np.all((in_left > 0) == (yaw < 0))
    down = values[ARKIT52.index["eyeLookDownLeft"]]
    assert np.all((down > 0) == (pitch > 0))


# --- head pose ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", POSE_STYLES)
def test_pose_stays_plausible(style: str) -> None:
    for seed in range(4):
        values = Pipeline().run(GenerationRequest(pose_seed=seed, pose_style=style),
                                analysis=synthetic_analysis(60.0, seed=seed)).values
        yaw, pitch, roll = values[HEAD]
        assert np.abs(yaw).max() < 0.35 and np.abs(pitch).max() < 0.25 and np.abs(roll).max() < 0.25
        # < 3 rad/s: brisk head shakes reach ~2-3 rad/s, nothing faster (no snaps).
        assert np.abs(np.diff(values[HEAD], axis=1)).max() < 0.1


def test_styles_differ_as_named(minute: Analysis) -> None:
    def stds(style: str) -> np.ndarray:
        runs = [Pipeline().run(GenerationRequest(pose_seed=s, pose_style=style), analysis=minute).values[HEAD]
                for s in range(4)]
        return np.mean([r.std(axis=1) for r in runs], axis=0)

    calm, animated, nodding, shaking = (stds(s) for s in ("calm", "animated", "nodding", "shaking"))
    assert np.all(animated > 1.5 * calm)
    assert nodding[1] > 1.4 * calm[1]  # pitch
    assert shaking[0] > 1.2 * calm[0]  # yaw


def test_nods_land_on_stressed_syllables(minute: Analysis) -> None:
    from mmface_studio.engine.classic.head_motion import stressed_vowels

    onsets, score = stressed_vowels(minute)
    values = Pipeline().run(GenerationRequest(pose_style="nodding"), analysis=minute).values
    pitch = values[HEAD[1]]
    lag = int(round(0.15 * FPS))
    at = np.clip(np.round(onsets * FPS).astype(int) + lag, 0, pitch.size - 1)
    before = np.clip(at - lag - 3, 0, pitch.size - 1)
    rise = pitch[at] - pitch[before]
    strong, weak = score > np.quantile(score, 0.8), score < np.quantile(score, 0.3)
    assert rise[strong].mean() > rise[weak].mean() + 0.02  # the head dips (+ pitch) on stressed vowels


def test_resample_changes_pose_keeps_locks_and_is_fast(minute: Analysis) -> None:
    pipeline = Pipeline()
    request = GenerationRequest(pose_seed=1, pose_style="animated", emotion="happiness:0.4")
    first = pipeline.run(request, analysis=minute)
    locks = (PoseLock(10.0, 20.0), PoseLock(41.5, 44.0))
    runs_before = dict(pipeline.stage_runs)
    times, results = [], []
    for seed in (2, 3, 4):
        started = time.perf_counter()
        results.append(pipeline.run(dataclasses.replace(request, pose_seed=seed, locks=locks), analysis=minute))
        times.append(time.perf_counter() - started)
    assert min(times) <= 0.300, times  # DESIGN 5: head-pose re-sample, 60 s, <= 300 ms
    for stage in ("analysis", "lipsync", "emotion", "blinks"):
        assert pipeline.stage_runs[stage] == runs_before[stage], stage
    assert pipeline.stage_runs["pose"] == runs_before["pose"] + 3

    f = np.arange(first.frame_count)
    locked = ((f / FPS >= 10.0) & (f / FPS <= 20.0)) | ((f / FPS >= 41.5) & (f / FPS <= 44.0))
    free = ~locked
    free[np.abs(f[:, None] / FPS - np.array([10.0, 20.0, 41.5, 44.0])[None, :]).min(axis=1) < 0.2] = False
    previous = first
    for result in results:
        head, old = result.values[HEAD], previous.values[HEAD]
        assert np.array_equal(head[:, locked], first.values[HEAD][:, locked])  # bit-exact, across re-samples
        assert np.abs(head[:, free] - old[:, free]).mean() > 0.01  # a different take elsewhere
        assert np.abs(np.diff(head, axis=1)).max() < 0.05  # no pop at the lock edges
        previous = result
    # Face channels are untouched by a re-sample; only the head and the eyes (which counter-rotate
    # against the head to keep looking at the listener) change.
    moved = [i for i, n in enumerate(ARKIT52.names) if n.startswith(("Head", "LeftEye", "RightEye", "eyeLook"))]
    assert np.array_equal(np.delete(results[0].values, moved, axis=0), np.delete(first.values, moved, axis=0))


def test_relocking_is_idempotent_and_seeds_reproduce(minute: Analysis) -> None:
    pipeline = Pipeline()
    base = GenerationRequest(pose_seed=5, pose_style="nodding")
    pipeline.run(base, analysis=minute)
    locked = dataclasses.replace(base, pose_seed=6, locks=(PoseLock(5.0, 9.0),))
    a = pipeline.run(locked, analysis=minute)
    b = pipeline.run(dataclasses.replace(locked, emotion="anger:0.3"), analysis=minute)  # uses `a` as previous
    assert np.array_equal(a.values[HEAD], b.values[HEAD])
    # An explicit previous (the document's take) wins over the pipeline's memory.
    c = Pipeline().run(locked, analysis=minute, previous=a)
    assert np.array_equal(c.values[HEAD], a.values[HEAD])
    fresh = Pipeline().run(dataclasses.replace(base, pose_seed=6), analysis=minute)
    again = Pipeline().run(dataclasses.replace(base, pose_seed=6), analysis=minute)
    assert np.array_equal(fresh.values, again.values)
