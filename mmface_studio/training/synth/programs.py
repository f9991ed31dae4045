"""Random programs for the corpus: emotion keyframes, head-motion takes and facial actions without speech.

Why programs rather than random curves: what a model should learn to obey are the animator's
controls (emotion keys, a pose style and seed, a described action), so every example is made
*from* such controls, drawn at random, and the controls are stored next to the result. The
emotion program is an ``EmotionTrack`` exactly as the timeline would hold it; the pose is the
classic engine's style + seed; a facial action is a keyframed envelope on arkit52 channels.

Facial actions (text-only clips: yawn, smile, surprise, frown, blinks, nod...) are written on
top of a silent classic-engine take, so the face between actions still blinks, breathes and
drifts like the speech clips do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmface_studio.core.emotion_track import EMOTIONS, EmotionKey, EmotionTrack
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine.request import POSE_STYLES

_IDX = ARKIT52.index


@dataclass(frozen=True)
class EmotionProgram:
    """An emotion track plus the labels the text generator reads (kind and the named emotions)."""

    kind: str  # neutral, constant, rise, switch, pulse
    track: EmotionTrack
    emotions: tuple[tuple[str, float], ...]  # (emotion, peak intensity) in order of appearance

    @property
    def dominant(self) -> str:
        return max(self.emotions, key=lambda e: e[1])[0] if self.emotions else "neutral"


def _key(time: float, emotion: str, intensity: float) -> EmotionKey:
    if emotion == "neutral":
        return EmotionKey.of(time, neutral=1.0)
    return EmotionKey.of(time, **{emotion: round(intensity, 3), "neutral": round(1.0 - intensity, 3)})


def draw_emotion(rng: np.random.Generator, duration: float) -> EmotionProgram:
    """A random emotion program over ``duration`` seconds."""
    kinds = ("neutral", "constant", "rise", "switch", "pulse")
    kind = str(rng.choice(kinds, p=(0.2, 0.35, 0.2, 0.15, 0.1)))
    others = EMOTIONS[1:]
    e1, e2 = (str(e) for e in rng.choice(others, 2, replace=False))
    a, b = float(rng.uniform(0.4, 1.0)), float(rng.uniform(0.4, 1.0))
    t1 = float(rng.uniform(0.25, 0.6)) * duration
    if kind == "neutral":
        return EmotionProgram(kind, EmotionTrack.neutral(), ())
    if kind == "constant":
        return EmotionProgram(kind, EmotionTrack((_key(0.0, e1, a),)), ((e1, a),))
    if kind == "rise":
        return EmotionProgram(kind, EmotionTrack((_key(0.0, "neutral", 0), _key(t1, e1, a))), ((e1, a),))
    if kind == "switch":
        t2 = min(t1 + float(rng.uniform(0.3, 1.0)), duration)
        return EmotionProgram(kind, EmotionTrack((_key(0.0, e1, a), _key(t1, e1, a), _key(t2, e2, b))),
                              ((e1, a), (e2, b)))
    t2 = min(t1 + float(rng.uniform(0.4, 1.2)), duration)
    t3 = min(t2 + float(rng.uniform(0.3, 1.0)), duration + 1.0)
    return EmotionProgram(kind, EmotionTrack((_key(0.0, "neutral", 0), _key(t1, e1, a), _key(t2, e1, a),
                                              _key(t3, "neutral", 0))), ((e1, a),))


def draw_pose(rng: np.random.Generator) -> tuple[str, int, int]:
    """(pose style, pose seed, blink seed) for the classic engine's head-motion and blink stages."""
    return str(rng.choice(POSE_STYLES)), int(rng.integers(0, 2**31 - 1)), int(rng.integers(0, 2**31 - 1))


# --- facial actions (text-only clips) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A facial action: channel targets reached with an attack/hold/release envelope.

    ``oscillate``: (channel, amplitude rad, Hz) for nods, shakes and laughter; ``blinks``: how
    many extra blinks the action holds; ``emotion``: the emotion it expresses (drives the
    emotion track and therefore the emotion gammas stored with the clip).
    """

    name: str
    targets: dict[str, float] = field(default_factory=dict)
    duration: tuple[float, float] = (1.0, 2.0)
    emotion: tuple[str, float] | None = None
    oscillate: tuple[tuple[str, float, float], ...] = ()
    blinks: int = 0


def _lr(name: str, value: float) -> dict[str, float]:
    return {f"{name}Left": value, f"{name}Right": value}


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("yawn", {"jawOpen": 0.85, "mouthFunnel": 0.25, **_lr("eyeSquint", 0.5), **_lr("eyeBlink", 0.55),
                    "browInnerUp": 0.3, "HeadPitch": -0.12}, (2.0, 3.2)),
    Action("smile", {**_lr("mouthSmile", 0.8), **_lr("cheekSquint", 0.45), **_lr("eyeSquint", 0.25),
                     **_lr("mouthDimple", 0.2)}, (1.2, 2.5), ("happiness", 0.7)),
    Action("laugh", {**_lr("mouthSmile", 0.9), **_lr("cheekSquint", 0.6), **_lr("eyeSquint", 0.4), "jawOpen": 0.25},
           (1.2, 2.2), ("happiness", 0.95), (("jawOpen", 0.15, 4.5), ("HeadPitch", -0.04, 2.2))),
    Action("frown", {**_lr("browDown", 0.7), **_lr("mouthFrown", 0.55), **_lr("mouthPress", 0.3)}, (1.2, 2.4),
           ("anger", 0.6)),
    Action("sad", {"browInnerUp": 0.6, **_lr("mouthFrown", 0.5), "mouthShrugLower": 0.3,
                   **_lr("eyeLookDown", 0.3), "HeadPitch": 0.08}, (1.5, 3.0), ("sadness", 0.75)),
    Action("surprise", {"browInnerUp": 0.85, **_lr("browOuterUp", 0.8), **_lr("eyeWide", 0.7), "jawOpen": 0.35},
           (0.8, 1.6), ("surprise", 0.9)),
    Action("fear", {"browInnerUp": 0.75, **_lr("eyeWide", 0.8), **_lr("mouthStretch", 0.5), "HeadPitch": -0.05},
           (1.0, 2.0), ("fear", 0.8)),
    Action("sneer", {**_lr("noseSneer", 0.7), **_lr("mouthUpperUp", 0.45), **_lr("browDown", 0.3)}, (1.0, 2.0),
           ("disgust", 0.75)),
    Action("pout", {"mouthPucker": 0.8, "mouthFunnel": 0.2}, (1.0, 2.0)),
    Action("puff_cheeks", {"cheekPuff": 0.85, "mouthClose": 0.15, **_lr("mouthPress", 0.2)}, (1.0, 2.0)),
    Action("blink", {}, (1.5, 3.0), None, (), 6),
    Action("wink", {"eyeBlinkLeft": 1.0, "cheekSquintLeft": 0.35, "mouthSmileLeft": 0.35}, (0.5, 0.9),
           ("happiness", 0.3)),
    Action("nod", {}, (1.2, 2.4), None, (("HeadPitch", 0.14, 1.8),)),
    Action("shake_head", {}, (1.2, 2.4), None, (("HeadYaw", 0.22, 2.2),)),
    Action("look_around", {}, (1.6, 3.0), None, (("LeftEyeYaw", 0.35, 0.6), ("RightEyeYaw", 0.35, 0.6),
                                                                 ("HeadYaw", 0.12, 0.6))),
    Action("raise_brows", {"browInnerUp": 0.7, **_lr("browOuterUp", 0.7)}, (0.7, 1.4)),
    Action("squint", {**_lr("eyeSquint", 0.7), **_lr("browDown", 0.3), **_lr("cheekSquint", 0.3)}, (1.0, 2.0)),
    Action("tongue_out", {"tongueOut": 0.8, "jawOpen": 0.3}, (0.8, 1.6)),
    Action("open_mouth", {"jawOpen": 0.6, **_lr("mouthLowerDown", 0.3)}, (0.8, 1.6)),
)}


@dataclass(frozen=True)
class ActionEvent:
    action: str
    start: float
    end: float
    intensity: float


@dataclass(frozen=True)
class ActionProgram:
    events: tuple[ActionEvent, ...]
    duration: float

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.action for e in self.events)


def draw_actions(rng: np.random.Generator) -> ActionProgram:
    """One to three actions in sequence, with rest before, between and after them."""
    count = int(rng.choice([1, 2, 3], p=(0.5, 0.35, 0.15)))
    names = [str(n) for n in rng.choice(sorted(ACTIONS), count, replace=False)]
    t = float(rng.uniform(0.3, 0.8))
    events = []
    for name in names:
        lo, hi = ACTIONS[name].duration
        length = float(rng.uniform(lo, hi))
        events.append(ActionEvent(name, t, t + length, float(rng.uniform(0.6, 1.0))))
        t += length + float(rng.uniform(0.2, 0.8))
    return ActionProgram(tuple(events), t + float(rng.uniform(0.1, 0.5)))


def action_emotion(program: ActionProgram) -> EmotionTrack:
    """Emotion keys that follow the actions: each emotional action ramps in and out of its emotion."""
    keys = [EmotionKey.of(0.0, neutral=1.0)]
    for event in program.events:
        emo = ACTIONS[event.action].emotion
        if emo is None:
            continue
        name, level = emo
        level = round(level * event.intensity, 3)
        ramp = min(0.3, 0.3 * (event.end - event.start))
        keys += [_key(event.start + ramp, name, level), _key(event.end - ramp, name, level)]
        keys.append(EmotionKey.of(min(event.end + 0.3, program.duration + 1.0), neutral=1.0))
    deduped: dict[float, EmotionKey] = {}
    for k in keys:
        deduped[round(k.time, 4)] = k
    return EmotionTrack(tuple(deduped.values()))


def envelope(times: np.ndarray, start: float, end: float, attack: float = 0.25) -> np.ndarray:
    """0 -> 1 -> 0 over [start, end] with smooth attack and release (each at most a third of it)."""
    ramp = max(min(attack, (end - start) / 3.0), 1e-3)
    up = np.clip((times - start) / ramp, 0.0, 1.0)
    down = np.clip((end - times) / ramp, 0.0, 1.0)
    u = np.minimum(up, down)
    return u * u * (3.0 - 2.0 * u)


def apply_actions(values: np.ndarray, program: ActionProgram, fps: float, rng: np.random.Generator) -> np.ndarray:
    """``values`` (arkit52, C x T) with the program's actions written on top, clipped to channel ranges."""
    out = values.astype(np.float32).copy()
    times = np.arange(out.shape[1]) / fps
    for event in program.events:
        action = ACTIONS[event.action]
        env = envelope(times, event.start, event.end) * event.intensity
        for channel, target in action.targets.items():
            row = _IDX[channel]
            if channel.startswith(("Head", "Left", "Right")):
                out[row] += env * target
            else:  # move towards the target: a held smile does not exceed 1 on top of a speaking one
                out[row] += env * (target - out[row]) * (target > out[row])
        for channel, amplitude, hz in action.oscillate:
            out[_IDX[channel]] += env * amplitude * np.sin(2 * np.pi * hz * (times - event.start))
        if action.blinks:
            for c in np.sort(rng.uniform(event.start + 0.1, event.end - 0.1, action.blinks)):
                blink = np.exp(-0.5 * ((times - c) / 0.045) ** 2)
                for side in ("eyeBlinkLeft", "eyeBlinkRight"):
                    out[_IDX[side]] = np.maximum(out[_IDX[side]], blink)
    return ARKIT52.clip(out)
