"""The project document: curves, evaluation and its row cache, events, validation."""

from __future__ import annotations

import gc
import logging
import time

import numpy as np
import pytest

import mmface_studio.engine.request as engine_request
from mmface_studio.core import emotion_track
from mmface_studio.core.curves import Curve, CurveError, CurveKey
from mmface_studio.core.document import (
    AddChannelKey,
    Change,
    DocumentError,
    EmotionKey,
    EmotionTrack,
    LockRange,
    Marker,
    Project,
    SetBasePerformance,
    SetProperty,
    UndoStack,
)
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine import GenerationRequest, Pipeline, synthetic_analysis
from tests.core import make_clip, random_base

JAW = ARKIT52.index["jawOpen"]


# --- curves ----------------------------------------------------------------------------------------


def test_curve_interpolation_modes_and_holds() -> None:
    curve = Curve((CurveKey(1.0, 0.0, "linear"), CurveKey(2.0, 1.0, "step"), CurveKey(3.0, 0.5, "smooth"),
                   CurveKey(4.0, 0.0)))
    got = curve.sample([0.0, 1.0, 1.5, 2.0, 2.5, 2.999, 3.0, 4.0, 9.0])
    np.testing.assert_allclose(got[:7], [0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.5])
    assert got[7] == pytest.approx(0.0) and got[8] == pytest.approx(0.0)  # holds after the last key
    assert Curve().sample(np.arange(3)).tolist() == [0.0, 0.0, 0.0]  # no keys: no offset
    assert Curve((CurveKey(2.0, 0.7),)).sample([0.0, 5.0]).tolist() == [0.7, 0.7]


def test_smooth_curve_auto_tangents_do_not_overshoot_extremes() -> None:
    curve = Curve((CurveKey(0.0, 0.0), CurveKey(1.0, 1.0), CurveKey(2.0, 0.0)))
    t = np.linspace(0.0, 2.0, 401)
    values = curve.sample(t)
    assert values.max() == pytest.approx(1.0)  # the peak key is a flat extreme, not overshot
    assert curve.resolved_tangents(1.0) == (0.0, 0.0)
    rising = Curve((CurveKey(0.0, 0.0), CurveKey(1.0, 0.5), CurveKey(2.0, 1.0)))
    assert rising.resolved_tangents(1.0) == (0.5, 0.5)  # neighbour secant inside a monotone run
    values = rising.sample(t)
    assert np.all(np.diff(values) >= -1e-12) and values.min() == 0.0 and values.max() == 1.0  # monotone


def test_explicit_tangents_shape_the_hermite_segment() -> None:
    flat = Curve((CurveKey(0.0, 0.0, out_tangent=0.0), CurveKey(1.0, 1.0, in_tangent=0.0)))
    steep = Curve((CurveKey(0.0, 0.0, out_tangent=3.0), CurveKey(1.0, 1.0, in_tangent=0.0)))
    assert steep.sample([0.25])[0] > flat.sample([0.25])[0]
    assert flat.sample([0.5])[0] == pytest.approx(0.5)  # ease in/out is symmetric
    h = 1e-6
    assert (steep.sample([h])[0] - steep.sample([0.0])[0]) / h == pytest.approx(3.0, rel=1e-3)


def test_curve_edits_and_errors() -> None:
    curve = Curve((CurveKey(1.0, 0.2),)).with_key(CurveKey(2.0, 0.4))
    assert curve.times == (1.0, 2.0)
    with pytest.raises(CurveError, match="already a key"):
        curve.with_key(CurveKey(2.0 + 1e-8, 0.0))
    with pytest.raises(CurveError, match="no key"):
        curve.without([1.5])
    with pytest.raises(CurveError, match="land on another key"):
        curve.moved([1.0], 1.0)
    assert curve.moved([1.0, 2.0], 1.0, 0.1).times == (2.0, 3.0)
    with pytest.raises(CurveError):
        CurveKey(-1.0, 0.0)
    with pytest.raises(CurveError):
        CurveKey(1.0, float("nan"))
    with pytest.raises(CurveError, match="interpolation"):
        CurveKey(1.0, 0.0, "bouncy")
    assert Curve.from_json(curve.to_json()) == curve


# --- the emotion types moved to core -----------------------------------------------------------------


def test_emotion_types_live_in_core_and_the_engine_reexports_them() -> None:
    for name in ("EmotionKey", "EmotionTrack", "RequestError", "EMOTIONS", "INTERPOLATIONS", "emotion_index"):
        assert getattr(engine_request, name) is getattr(emotion_track, name)
    track = EmotionTrack((EmotionKey.of(0.0, happiness=1.0), EmotionKey.of(2.0, "linear", sadness=1.0)))
    project = Project(emotion=track)
    assert project.emotion is track
    assert project.emotion_at(1.0)[1] == pytest.approx(0.5)


# --- evaluation ----------------------------------------------------------------------------------------


def test_evaluate_adds_layers_to_the_base_and_clips_to_channel_ranges() -> None:
    base = random_base(90)
    project = Project(base=base, layers={"jawOpen": Curve((CurveKey(0.0, 0.25, "step"),)),
                                         "HeadYaw": Curve((CurveKey(0.0, 5.0),))})
    perf = project.evaluate()
    expected = np.clip(base.values[JAW] + 0.25, 0.0, 1.0)
    np.testing.assert_allclose(perf.values[JAW], expected, rtol=1e-6)
    assert np.all(perf.values[ARKIT52.index["HeadYaw"]] == pytest.approx(1.2))  # clipped to the range
    untouched = ARKIT52.index["cheekPuff"]
    np.testing.assert_array_equal(perf.values[untouched], base.values[untouched])
    np.testing.assert_array_equal(project.channels_at(10), perf.values[:, 10])
    np.testing.assert_array_equal(project.channels_at(10_000), perf.values[:, -1])
    assert perf.fps == 30.0 and perf.provenance["edit_layers"] == ["HeadYaw", "jawOpen"]
    assert not perf.values.flags.writeable


def test_timeline_length_without_a_base_follows_the_audio() -> None:
    assert Project().frame_count == 1
    project = Project(audio=make_clip(2.0), fps=25.0)
    assert project.frame_count == 50
    np.testing.assert_array_equal(project.evaluate().values, np.repeat(ARKIT52.defaults[:, None], 50, axis=1))


def test_a_single_keyframe_edit_recomputes_one_row_of_a_minute_and_is_cheap() -> None:
    perf = Pipeline().run(GenerationRequest(), analysis=synthetic_analysis(60.0, seed=3))
    project, stack = Project(), UndoStack()
    stack.push(SetBasePerformance(project, perf))
    stack.push(AddChannelKey(project, "jawOpen", CurveKey(10.0, 0.2)))
    before = project.evaluate()
    rows = project.rows_evaluated
    stack.push(AddChannelKey(project, "jawOpen", CurveKey(20.0, -0.1)))
    after = project.evaluate()
    assert project.rows_evaluated == rows + 1
    assert before.values is not after.values  # the earlier result stays as it was (copy on write)
    changed = np.flatnonzero(np.any(before.values != after.values, axis=1))
    assert changed.tolist() == [JAW]
    full = Project(base=perf, layers=project.layers).evaluate()
    np.testing.assert_array_equal(after.values, full.values)

    best = np.inf
    for i in range(20):
        stack.push(AddChannelKey(project, "mouthSmileLeft", CurveKey(1.0 + i, 0.01 * i)))
        started = time.perf_counter()
        project.evaluate()
        best = min(best, time.perf_counter() - started)
    assert best < 0.005, f"evaluate() after one key edit took {best * 1000:.2f} ms (budget 5 ms)"


def test_pose_take_invalidates_only_the_head_rows() -> None:
    from mmface_studio.core.commands import SetPoseTake

    project, stack = Project(base=random_base(60)), UndoStack()
    project.evaluate()
    rows, seen = project.rows_evaluated, []
    project.events.connect(seen.append)
    stack.push(SetPoseTake(project, np.zeros((3, 60), np.float32), pose_seed=7))
    project.evaluate()
    assert project.rows_evaluated == rows + 3
    assert Change("base", channels=("HeadYaw", "HeadPitch", "HeadRoll")) in seen
    assert Change("meta", field="pose_seed") in seen


# --- events --------------------------------------------------------------------------------------------


def test_events_fire_once_per_real_change_with_what_changed() -> None:
    project, stack, seen = Project(), UndoStack(), []
    project.events.connect(seen.append)
    stack.push(SetProperty(project, "prompt", "smiles"))
    stack.push(SetProperty(project, "prompt", "smiles"))  # no change: silent, not recorded
    stack.push(AddChannelKey(project, "browInnerUp", CurveKey(0.5, 0.3)))
    assert seen == [Change("meta", field="prompt"), Change("layer:browInnerUp", channel="browInnerUp")]
    assert seen[1].category == "layer" and len(stack) == 2
    stack.undo()
    assert seen[-1] == Change("layer:browInnerUp", channel="browInnerUp")
    project.assign(markers=[Marker(1.0, "beat")])
    project.assign(markers=[(1.0, "beat")])  # equal value: no event
    assert seen[-1] == Change("markers") and len(seen) == 4
    assert project.revision == 4


def test_observers_are_weak_for_methods_and_a_failing_observer_is_contained(caplog) -> None:
    class View:
        def __init__(self) -> None:
            self.count = 0

        def on_change(self, change: Change) -> None:
            self.count += 1

    project = Project()
    view = View()
    project.events.connect(view.on_change)
    project.events.connect(lambda change: 1 / 0)
    with caplog.at_level(logging.ERROR):
        project.assign(prompt="a")
    assert view.count == 1 and project.prompt == "a"
    assert "observer raised" in caplog.text
    del view
    gc.collect()
    assert len(project.events) == 1  # only the lambda is left
    project.events.disconnect()
    assert len(project.events) == 0


# --- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("fps", 0, "between 1 and 240"), ("fps", "fast", "number"), ("pose_seed", 1.5, "integer"),
    ("pose_seed", True, "integer"), ("rig", "", "non-empty"), ("identity", {"a": float("inf")}, "finite"),
    ("prompt", 3, "text"), ("locks", [(2.0, 1.0)], "start < end"), ("markers", [(-1.0, "x")], ">= 0"),
    ("emotion", 5, "EmotionTrack"), ("base", np.zeros((61, 3)), "Performance"),
    ("emotion_prior_weight", 1.5, "between 0 and 1"), ("emotion_prior_weight", "a lot", "number"),
])
def test_invalid_values_are_refused_without_changing_anything(field, value, message) -> None:
    project = Project(transcript="kept")
    with pytest.raises(DocumentError, match=message):
        project.assign(**{field: value}, transcript="changed")  # all or nothing
    assert project.transcript == "kept" and project.revision == 0


def test_base_must_be_arkit52_at_the_project_fps() -> None:
    from mmface_studio.core.performance import Performance
    from mmface_studio.core.spaces import FLAME56

    with pytest.raises(DocumentError, match="arkit52"):
        Project(base=Performance(30.0, FLAME56, np.zeros((len(FLAME56), 5))))
    with pytest.raises(DocumentError, match="25 fps"):
        Project(base=random_base(10, fps=25.0), fps=30.0)
    with pytest.raises(DocumentError, match="not a channel"):
        Project(layers={"jawOpn": Curve((CurveKey(0.0, 1.0),))})


def test_base_is_a_frozen_private_copy_and_locks_feed_the_engine() -> None:
    base = random_base(30)
    project = Project(base=base, locks=[(1.0, 2.0), LockRange(0.0, 0.5)])
    base.values[:] = 0.0  # the caller's array changing later does not reach the document
    assert project.base.values.any() and not project.base.values.flags.writeable
    request = GenerationRequest(**project.request_fields())
    assert [(lk.start, lk.end) for lk in request.locks] == [(0.0, 0.5), (1.0, 2.0)]
    assert request.transcript is None and request.fps == 30.0
    assert request.emotion_prior_weight == project.emotion_prior_weight == 0.1, "the engine's default"


def test_following_the_voice_adds_only_its_variation_and_stays_in_range() -> None:
    from mmface_studio.core.emotion_track import follow_voice

    keyed = np.full((7, 4), 0.5, np.float32)
    prior = np.tile(np.array([0.2, 0.4, 0.6, 0.8]), (7, 1))
    np.testing.assert_allclose(follow_voice(keyed, prior, 0.0), keyed)
    followed = follow_voice(keyed, prior, 0.5)
    np.testing.assert_allclose(followed[1], [0.35, 0.45, 0.55, 0.65], atol=1e-6)
    assert followed.mean() == pytest.approx(0.5), "mean-centred: no bias away from the keys"
    assert follow_voice(np.ones((7, 4)), prior, 1.0).max() == 1.0
