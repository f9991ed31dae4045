"""Commands and the undo stack: each edit, merging of drags, clean state, compounds, and undo exactness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmface_studio.core.document import (
    COMMANDS,
    EMOTIONS,
    AddChannelKey,
    AddEmotionKey,
    AddMarker,
    AddPoseLock,
    ClearLayers,
    Curve,
    CurveKey,
    DeleteChannelKeys,
    DeleteEmotionKeys,
    DragEmotionKeys,
    EditError,
    EmotionKey,
    EmotionTrack,
    Marker,
    MoveChannelKeys,
    MoveEmotionKeys,
    MoveMarker,
    PasteEmotionKeys,
    Project,
    RemoveMarker,
    RemovePoseLock,
    RenameMarker,
    SetAudio,
    SetBasePerformance,
    SetChannelKey,
    SetEmotionKey,
    SetEmotionTrack,
    SetKeyTangents,
    SetLayerCurve,
    SetPoseTake,
    SetProperty,
    UndoStack,
)
from tests.core import make_clip, random_base, snapshot


@pytest.fixture
def doc() -> tuple[Project, UndoStack]:
    return Project(base=random_base(90), emotion=EmotionTrack((EmotionKey.of(0.0, neutral=1.0),
                                                                EmotionKey.of(1.0, happiness=0.8)))), UndoStack()


def test_emotion_key_commands_do_and_undo(doc) -> None:
    project, stack = doc
    start = snapshot(project)
    stack.push(AddEmotionKey(project, EmotionKey(2.0, project.emotion_at(2.0))))
    stack.push(SetEmotionKey(project, 2.0, {"anger": 0.5}, interpolation="step"))
    assert project.emotion.keys[2].as_dict()["anger"] == 0.5 and project.emotion.keys[2].interpolation == "step"
    stack.seal()
    stack.push(MoveEmotionKeys(project, [1.0, 2.0], 0.5))
    assert [k.time for k in project.emotion.keys] == [0.0, 1.5, 2.5]
    stack.push(PasteEmotionKeys(project, project.emotion.keys[1:], at=4.0))
    assert [k.time for k in project.emotion.keys] == [0.0, 1.5, 2.5, 4.0, 5.0]
    stack.push(DeleteEmotionKeys(project, [0.0, 5.0]))
    assert [k.time for k in project.emotion.keys] == [1.5, 2.5, 4.0]
    stack.push(SetEmotionTrack(project, EmotionTrack.parse("sad:0.4@1")))
    assert project.emotion == EmotionTrack.parse("sad:0.4@1")
    while stack.can_undo:
        stack.undo()
    assert snapshot(project) == start


def test_impossible_edits_raise_edit_error_and_change_nothing(doc) -> None:
    project, stack = doc
    start = snapshot(project)
    bad = [AddEmotionKey(project, EmotionKey.of(1.0)), SetEmotionKey(project, 3.0, {"fear": 0.1}),
           SetEmotionKey(project, 1.0, {"fear": 2.0}), SetEmotionKey(project, 1.0, {"glee": 0.1}),
           MoveEmotionKeys(project, [0.0], 1.0), DeleteEmotionKeys(project, [7.0]),
           SetChannelKey(project, "jawOpen", 1.0, 0.5), RemovePoseLock(project, (0.0, 1.0)),
           AddPoseLock(project, 2.0, 1.0), RemoveMarker(project, Marker(1.0, "x")),
           SetProperty(project, "fps", 0), SetPoseTake(project, np.zeros((3, 5))),
           SetBasePerformance(project, "nope")]  # type: ignore[arg-type]
    for command in bad:
        with pytest.raises(EditError):
            stack.push(command)
    with pytest.raises(EditError, match="not a channel"):
        AddChannelKey(project, "jawOpn", CurveKey(0.0, 1.0))
    with pytest.raises(EditError, match="Unknown setting"):
        SetProperty(project, "colour", "red")
    assert snapshot(project) == start and len(stack) == 0


def test_channel_layer_commands(doc) -> None:
    project, stack = doc
    start = snapshot(project)
    stack.push(AddChannelKey(project, "jawOpen", CurveKey(0.5, 0.2)))
    stack.push(AddChannelKey(project, "jawOpen", CurveKey(1.5, 0.4, "linear")))
    stack.push(AddChannelKey(project, "HeadYaw", CurveKey(1.0, 0.1)))
    stack.push(SetChannelKey(project, "jawOpen", 0.5, value=0.3, interpolation="step"))
    stack.push(SetKeyTangents(project, "jawOpen", 1.5, in_tangent=1.0, out_tangent=None))
    assert project.layer("jawOpen").key_at(1.5).in_tangent == 1.0
    stack.push(MoveChannelKeys(project, {"jawOpen": [0.5, 1.5], "HeadYaw": [1.0]}, dt=-2.0, dv=0.1))
    assert project.layer("jawOpen").times == (0.0, 1.0)  # clamped: the earliest key stops at 0 s
    assert project.layer("HeadYaw").key_at(0.5).value == pytest.approx(0.2)
    stack.push(DeleteChannelKeys(project, {"jawOpen": [0.0]}))
    stack.push(SetLayerCurve(project, "cheekPuff", Curve((CurveKey(0.0, 0.5),))))
    assert sorted(project.layers) == ["HeadYaw", "cheekPuff", "jawOpen"]
    stack.push(ClearLayers(project))
    assert dict(project.layers) == {}
    stack.undo()
    assert sorted(project.layers) == ["HeadYaw", "cheekPuff", "jawOpen"]
    while stack.can_undo:
        stack.undo()
    assert snapshot(project) == start


def test_base_pose_locks_markers_and_settings(doc) -> None:
    project, stack = doc
    start = snapshot(project)
    clip = make_clip(1.0)
    stack.push(SetAudio(project, clip))
    stack.push(SetBasePerformance(project, random_base(75, fps=25.0, seed=4)))
    assert project.fps == 25.0 and project.frame_count == 75
    stack.push(SetPoseTake(project, np.full((3, 75), 0.1, np.float32), pose_seed=9, pose_style="nodding"))
    assert project.pose_seed == 9 and project.base.provenance["seed"] == 9
    stack.push(AddPoseLock(project, 0.5, 1.0))
    stack.push(AddMarker(project, 1.0, "beat"))
    stack.push(MoveMarker(project, project.markers[0], 2.0))
    stack.push(RenameMarker(project, project.markers[0], "hit"))
    assert project.markers == (Marker(2.0, "hit"),)
    stack.push(RemovePoseLock(project, project.locks[0]))
    stack.push(SetProperty(project, "fps", 50.0))
    assert project.base.frame_count == 150 and project.base.fps == 50.0  # resampled with the fps
    for field, value in (("prompt", "yawns"), ("transcript", "hello"), ("rig", "/m/flame2023_Open.pkl"),
                         ("identity", {"shape00": 0.5}), ("pose_seed", 3), ("pose_style", "calm"),
                         ("engine", "neural")):
        stack.push(SetProperty(project, field, value))
        assert project.get(field) == value or dict(project.get(field)) == value
    while stack.can_undo:
        stack.undo()
    assert snapshot(project) == start
    while stack.can_redo:
        stack.redo()
    assert project.audio is clip and project.engine == "neural"


def test_a_drag_is_one_undo_step_and_seal_ends_it(doc) -> None:
    project, stack = doc
    stack.push(AddChannelKey(project, "jawOpen", CurveKey(1.0, 0.2)))
    stack.seal()
    for _ in range(10):  # mouse moves: each push grabs the key where the last one left it
        t = project.layer("jawOpen").times[0]
        stack.push(MoveChannelKeys(project, {"jawOpen": [t]}, dt=0.1, dv=0.01))
    assert len(stack) == 2 and stack.undo_text == "Move keys"
    assert project.layer("jawOpen").times[0] == pytest.approx(2.0)
    stack.seal()  # mouse release
    stack.push(MoveChannelKeys(project, {"jawOpen": [project.layer("jawOpen").times[0]]}, dt=0.5))
    assert len(stack) == 3
    stack.undo()
    stack.undo()
    assert project.layer("jawOpen").key_at(1.0).value == pytest.approx(0.2)
    # emotion key drag and slider merges
    for step in range(5):
        stack.push(SetEmotionKey(project, 1.0, {"happiness": 0.1 * step}))
    assert stack.undo_text == "Change emotion key" and len(stack) == 2
    for _ in range(3):
        stack.push(MoveEmotionKeys(project, [project.emotion.keys[1].time], 0.2))
    assert len(stack) == 3 and project.emotion.keys[1].time == pytest.approx(1.6)


def test_dragging_emotion_keys_in_time_and_value_is_one_undo_step(doc) -> None:
    """A curve-editor drag: time and one intensity of two keys move together, merged into one step."""
    project, stack = doc
    stack.push(AddEmotionKey(project, EmotionKey.of(2.0, happiness=0.3, sadness=0.5)))
    stack.seal()
    start = project.emotion
    happy, sad = EMOTIONS.index("happiness"), EMOTIONS.index("sadness")
    times = (1.0, 2.0)
    for _ in range(6):  # mouse moves: each push grabs the keys where the previous one left them
        stack.push(DragEmotionKeys(project, {t: [happy] for t in times}, dt=0.1, dv=0.05))
        times = tuple(t + 0.1 for t in times)
    assert len(stack) == 2 and stack.undo_text == "Drag emotion keys"
    keys = project.emotion.keys
    assert [k.time for k in keys] == pytest.approx([0.0, 1.6, 2.6])
    assert keys[1].gammas[happy] == pytest.approx(1.0), "intensities stop at 1"
    assert keys[2].gammas[happy] == pytest.approx(0.6) and keys[2].gammas[sad] == pytest.approx(0.5)
    stack.push(DragEmotionKeys(project, {0.0: [sad], 2.6: [sad]}, dt=-10.0, dv=-1.0))  # another grab: a new step
    assert len(stack) == 3
    assert [k.time for k in project.emotion.keys] == pytest.approx([0.0, 1.6, 2.6]), "keys stop at 0 s"
    assert project.emotion.keys[2].gammas[sad] == 0.0, "intensities stop at 0"
    stack.undo()
    stack.undo()
    assert project.emotion == start


def test_impossible_emotion_drags_change_nothing(doc) -> None:
    project, stack = doc
    before = snapshot(project)
    for edit in (DragEmotionKeys(project, {5.0: [1]}, 0.1, 0.1), DragEmotionKeys(project, {}, 0.1, 0.1),
                 DragEmotionKeys(project, {1.0: [1]}, -1.0, 0.0), DragEmotionKeys(project, {1.0: [9]}, 0.0, 0.1)):
        with pytest.raises(EditError):
            stack.push(edit)
    assert snapshot(project) == before and len(stack) == 0


def test_a_drag_back_to_its_start_leaves_no_step(doc) -> None:
    project, stack = doc
    stack.push(MoveEmotionKeys(project, [1.0], 0.3))
    stack.push(MoveEmotionKeys(project, [1.3], -0.3))
    assert len(stack) == 0 and project.emotion.keys[1].time == pytest.approx(1.0)


def test_different_keys_and_saved_states_do_not_merge(doc) -> None:
    project, stack = doc
    stack.push(AddEmotionKey(project, EmotionKey.of(2.0)))
    stack.push(SetEmotionKey(project, 1.0, {"anger": 0.1}))
    stack.push(SetEmotionKey(project, 2.0, {"anger": 0.1}))  # another key: new step
    assert len(stack) == 3
    stack.set_clean()
    stack.push(SetEmotionKey(project, 2.0, {"anger": 0.2}))  # would merge, but the top is the saved state
    assert len(stack) == 4 and stack.is_dirty
    stack.undo()
    assert stack.is_clean and project.emotion.keys[2].as_dict()["anger"] == 0.1


def test_clean_state_dirty_flag_and_notifications() -> None:
    project, stack, states = Project(), UndoStack(), []
    stack.changed.connect(states.append)
    assert stack.is_clean and not stack.can_undo
    stack.push(SetProperty(project, "prompt", "a"))
    assert states[-1].can_undo and states[-1].undo_text == "Set prompt" and states[-1].is_dirty
    stack.set_clean()
    assert states[-1].is_clean
    stack.undo()
    assert stack.is_dirty and states[-1].can_redo and states[-1].redo_text == "Set prompt"
    stack.push(SetProperty(project, "pose_seed", 4))  # the saved state is now unreachable
    assert stack.is_dirty and not stack.can_redo
    stack.undo()
    assert stack.is_dirty
    stack.reset_clean()
    stack.clear()
    assert stack.is_clean and len(stack) == 0 and states[-1].count == 0


def test_undo_limit_drops_the_oldest_steps() -> None:
    project, stack = Project(), UndoStack(limit=3)
    for seed in range(6):
        stack.push(SetProperty(project, "pose_seed", seed + 1))
    assert len(stack) == 3
    while stack.can_undo:
        stack.undo()
    assert project.pose_seed == 3
    stack.limit = 1
    assert len(stack) == 3  # redo history is never dropped by the limit
    with pytest.raises(ValueError):
        UndoStack(limit=0)


def test_compound_is_one_step_and_rolls_back_on_failure(doc) -> None:
    project, stack = doc
    start = snapshot(project)
    with stack.compound("Paste and mark"):
        stack.push(AddMarker(project, 0.5, "a"))
        stack.push(AddPoseLock(project, 0.0, 1.0))
        stack.push(SetProperty(project, "prompt", "p"))
    assert len(stack) == 1 and stack.undo_text == "Paste and mark"
    stack.undo()
    assert snapshot(project) == start
    stack.redo()
    assert project.prompt == "p" and project.locks
    with pytest.raises(EditError), stack.compound("Broken"):
        stack.push(AddMarker(project, 0.7, "b"))
        stack.push(RemoveMarker(project, Marker(9.0, "none")))
    assert len(stack) == 1 and [m.label for m in project.markers] == ["a"]
    with pytest.raises(RuntimeError), stack.compound("x"):
        stack.undo()


def test_every_command_kind_is_exported() -> None:
    assert len(COMMANDS) == 24
    assert EMOTIONS[0] == "neutral"


# --- the property: any edit sequence undoes to the start and redoes to the end ------------------------

CHANNELS = ("jawOpen", "mouthSmileLeft", "HeadYaw", "browInnerUp")
_times = st.integers(0, 40).map(lambda i: i / 10)
_values = st.floats(-0.5, 0.5, allow_nan=False).map(lambda v: round(v, 3))
_gammas = st.tuples(*[st.integers(0, 10).map(lambda i: i / 10)] * 7)
_interp = st.sampled_from(("linear", "smooth", "step"))
CLIPS = (make_clip(1.0, seed=1), make_clip(1.5, seed=2))
TAKES = {30.0: random_base(90, 30.0, 7), 25.0: random_base(60, 25.0, 8)}


def _some(data, items, label):
    return list(data.draw(st.lists(st.sampled_from(items), min_size=1, max_size=3, unique=True), label))


def _random_edit(data, project: Project):  # noqa: C901 - one branch per command kind is the point
    kind = data.draw(st.sampled_from(sorted(COMMANDS) + ["undo", "seal", "compound"]), "kind")
    times = [k.time for k in project.emotion.keys]
    layered = {ch: project.layer(ch).times for ch in CHANNELS if len(project.layer(ch))}
    if kind == "AddEmotionKey":
        return AddEmotionKey(project, EmotionKey(data.draw(_times), data.draw(_gammas), data.draw(_interp)))
    if kind == "SetEmotionKey" and times:
        values = data.draw(st.one_of(st.none(), _gammas, st.dictionaries(st.sampled_from(EMOTIONS), _gammas.map(
            lambda g: g[0]), max_size=2)))
        return SetEmotionKey(project, data.draw(st.sampled_from(times)), values, data.draw(st.none() | _interp))
    if kind == "MoveEmotionKeys" and times:
        return MoveEmotionKeys(project, _some(data, times, "sel"), data.draw(_values))
    if kind == "DragEmotionKeys" and times:
        picked = _some(data, times, "sel")
        edits = {t: data.draw(st.lists(st.integers(0, 6), max_size=3), "ix") for t in picked}
        return DragEmotionKeys(project, edits, data.draw(_values), data.draw(_values))
    if kind == "DeleteEmotionKeys" and times:
        return DeleteEmotionKeys(project, _some(data, times, "sel"))
    if kind == "PasteEmotionKeys" and times:
        keys = [k for k in project.emotion.keys if k.time in _some(data, times, "sel")]
        return PasteEmotionKeys(project, keys, data.draw(st.none() | _times))
    if kind == "SetEmotionTrack":
        return SetEmotionTrack(project, EmotionTrack.constant(**{data.draw(st.sampled_from(EMOTIONS)): 0.5}))
    if kind == "AddChannelKey":
        key = CurveKey(data.draw(_times), data.draw(_values), data.draw(_interp))
        return AddChannelKey(project, data.draw(st.sampled_from(CHANNELS)), key)
    if kind in ("SetChannelKey", "SetKeyTangents", "MoveChannelKeys", "DeleteChannelKeys") and layered:
        channel = data.draw(st.sampled_from(sorted(layered)))
        t = data.draw(st.sampled_from(layered[channel]))
        if kind == "SetChannelKey":
            return SetChannelKey(project, channel, t, data.draw(st.none() | _values), data.draw(st.none() | _interp))
        if kind == "SetKeyTangents":
            return SetKeyTangents(project, channel, t, data.draw(st.none() | _values), data.draw(st.none() | _values))
        selection = {ch: _some(data, layered[ch], "sel") for ch in _some(data, sorted(layered), "chs")}
        if kind == "DeleteChannelKeys":
            return DeleteChannelKeys(project, selection)
        return MoveChannelKeys(project, selection, data.draw(_values), data.draw(_values))
    if kind == "SetLayerCurve":
        return SetLayerCurve(project, data.draw(st.sampled_from(CHANNELS)), Curve((CurveKey(0.0, data.draw(_values)),)))
    if kind == "ClearLayers":
        return ClearLayers(project, data.draw(st.none() | st.lists(st.sampled_from(CHANNELS), max_size=2)))
    if kind == "SetBasePerformance":
        return SetBasePerformance(project, TAKES[data.draw(st.sampled_from(sorted(TAKES)))])
    if kind == "SetPoseTake" and project.base is not None:
        take = np.full((3, project.base.frame_count), data.draw(_values), np.float32)
        return SetPoseTake(project, take, data.draw(st.none() | st.integers(0, 9)))
    if kind == "AddPoseLock":
        start = data.draw(_times)
        return AddPoseLock(project, start, start + data.draw(st.integers(1, 10)) / 10)
    if kind == "RemovePoseLock" and project.locks:
        return RemovePoseLock(project, data.draw(st.sampled_from(project.locks)))
    if kind == "AddMarker":
        return AddMarker(project, data.draw(_times), data.draw(st.sampled_from(("", "a", "b"))))
    if kind in ("MoveMarker", "RenameMarker", "RemoveMarker") and project.markers:
        marker = data.draw(st.sampled_from(project.markers))
        if kind == "MoveMarker":
            return MoveMarker(project, marker, data.draw(_times))
        if kind == "RenameMarker":
            return RenameMarker(project, marker, data.draw(st.sampled_from(("x", "y"))))
        return RemoveMarker(project, marker)
    if kind == "SetProperty":
        field, value = data.draw(st.sampled_from([
            ("prompt", "smile"), ("prompt", "frown"), ("transcript", "hi"), ("rig", "default"), ("rig", "/f.pkl"),
            ("identity", {"shape00": 0.3}), ("fps", 25.0), ("fps", 30.0), ("fps", 24.0), ("pose_seed", 5),
            ("pose_style", "animated"), ("engine", "other"), ("emotion_prior_weight", 0.5),
            ("emotion_prior_weight", 0.0)]))
        return SetProperty(project, field, value)
    if kind == "SetAudio":
        return SetAudio(project, data.draw(st.sampled_from((None, *CLIPS))))
    if kind in ("undo", "seal", "compound"):
        return kind
    return None


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_edits_undo_to_the_start_and_redo_to_the_end(data) -> None:
    project = Project(base=TAKES[30.0], audio=CLIPS[0], emotion=EmotionTrack.neutral())
    stack = UndoStack(limit=10_000)
    start = snapshot(project)
    applied = 0
    while applied < 200:
        edit = _random_edit(data, project)
        if edit is None:
            continue
        applied += 1
        if edit == "undo":
            stack.undo()
        elif edit == "seal":
            stack.seal()
        elif edit == "compound":
            with stack.compound("Two edits"):
                for _ in range(2):
                    inner = _random_edit(data, project)
                    if inner is not None and not isinstance(inner, str):
                        try:
                            stack.push(inner)
                        except EditError:
                            pass
        else:
            before = snapshot(project)
            try:
                stack.push(edit)
            except EditError:
                assert snapshot(project) == before  # a refused edit changes nothing
    end, done = snapshot(project), stack.index  # the sequence may end with undos: redo up to here
    while stack.can_undo:
        stack.undo()
    _same(snapshot(project), start)
    while stack.index < done:
        stack.redo()
    _same(snapshot(project), end)


def _same(got: tuple, want: tuple) -> None:
    for part, a, b in zip(("manifest", "arrays", "audio", "evaluation"), got, want, strict=True):
        assert a == b, f"the {part} differs"

