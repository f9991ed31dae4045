"""MMHead-style hierarchical text for each corpus example, written from its labels and its motion.

Seed 001 annotates every clip at five levels: an abstract *action* ("talks", "yawns, then
smiles"), an abstract *emotion*, fine-grained *expression* (facial movements in time order, from
per-frame action units), fine-grained *head pose* (from per-frame head rotation) and three
*scenarios* that could cause the emotion. Here the same five levels come from what made the
example: the action program and emotion keys for the abstract levels, and the generated arkit52
curves themselves for the fine-grained ones (so a description never claims a movement the
target does not show). Wording is drawn at random from several phrasings per fact, so a text
model cannot key on one template.
"""

from __future__ import annotations

import numpy as np

from mmface_studio.core.spaces import ARKIT52
from mmface_studio.training.synth.programs import ActionProgram, EmotionProgram

_IDX = ARKIT52.index
LEVELS: tuple[str, ...] = ("action", "emotion", "expression", "head_pose", "scenario")

_SUBJECT = ("The person", "The speaker", "The portrait", "The character", "The subject")
_ADJ = {"happiness": ("happy", "cheerful", "joyful", "pleased"),
        "sadness": ("sad", "gloomy", "unhappy", "downcast"),
        "surprise": ("surprised", "astonished", "startled", "amazed"),
        "fear": ("afraid", "scared", "anxious", "fearful"),
        "disgust": ("disgusted", "repulsed", "grossed out", "revolted"),
        "anger": ("angry", "annoyed", "furious", "irritated"), "neutral": ("calm", "neutral", "composed", "relaxed")}
_STRENGTH = ((0.55, ("slightly", "a little", "mildly")), (0.8, ("quite", "clearly", "noticeably")),
             (1.01, ("very", "extremely", "intensely")))
_STRENGTH_ADV = ((0.35, ("slightly", "a little", "faintly")), (0.65, ("clearly", "noticeably", "visibly")),
                 (1.01, ("strongly", "a lot", "intensely")))
_ACTION_TEXT = {
    "yawn": ("yawns", "gives a big yawn", "yawns widely"), "smile": ("smiles", "breaks into a smile", "grins"),
    "laugh": ("laughs", "bursts out laughing", "chuckles"), "frown": ("frowns", "scowls", "glowers"),
    "sad": ("looks sad", "pulls a sad face", "looks downcast"),
    "surprise": ("looks surprised", "reacts with surprise", "gasps in surprise"),
    "fear": ("looks frightened", "recoils in fear", "looks alarmed"),
    "sneer": ("sneers", "wrinkles the nose in disgust", "curls the upper lip"),
    "pout": ("pouts", "purses the lips", "puckers up"), "puff_cheeks": ("puffs out the cheeks", "blows up the cheeks"),
    "blink": ("blinks several times", "blinks rapidly", "keeps blinking"), "wink": ("winks", "gives a wink"),
    "nod": ("nods", "nods in agreement", "nods a few times"),
    "shake_head": ("shakes the head", "shakes the head in refusal"),
    "look_around": ("looks around", "glances left and right", "looks from side to side"),
    "raise_brows": ("raises the eyebrows", "lifts the brows"), "squint": ("squints", "narrows the eyes"),
    "tongue_out": ("sticks out the tongue", "shows the tongue"), "open_mouth": ("opens the mouth", "drops the jaw"),
}
_THEN = (", then ", ", and then ", " and afterwards ", ", after that ")
# (group name, channels, phrases) for the fine-grained expression level.
_GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("brow_raise", ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
     ("raises the brows", "lifts the inner and outer brows", "pulls the brows up")),
    ("brow_lower", ("browDownLeft", "browDownRight"), ("lowers the brows", "knits the brows", "furrows the brow")),
    ("smile", ("mouthSmileLeft", "mouthSmileRight"), ("pulls the lip corners up", "smiles", "shows a smile")),
    ("frown", ("mouthFrownLeft", "mouthFrownRight"), ("pulls the lip corners down", "turns the mouth down")),
    ("eye_wide", ("eyeWideLeft", "eyeWideRight"), ("widens the eyes", "opens the eyes wide")),
    ("squint", ("eyeSquintLeft", "eyeSquintRight", "cheekSquintLeft", "cheekSquintRight"),
     ("narrows the eyes", "raises the cheeks and squints")),
    ("sneer", ("noseSneerLeft", "noseSneerRight"), ("wrinkles the nose", "raises the upper lip in a sneer")),
    ("jaw", ("jawOpen",), ("drops the jaw", "opens the mouth wide")),
    ("pucker", ("mouthPucker",), ("purses the lips", "pushes the lips forward")),
    ("puff", ("cheekPuff",), ("puffs the cheeks",)),
    ("tongue", ("tongueOut",), ("shows the tongue",)),
    ("stretch", ("mouthStretchLeft", "mouthStretchRight"), ("stretches the lips sideways", "stretches the mouth")),
    ("press", ("mouthPressLeft", "mouthPressRight"), ("presses the lips together",)),
)
_SPEECH_GROUPS = frozenset({"jaw", "pucker", "stretch", "press"})  # also moved by articulation: skip for speech
_WHEN = (("At the beginning", "At first", "Initially"), ("In the middle", "Midway", "Then"),
         ("Towards the end", "At the end", "Finally"))
_SCENARIOS = {
    "happiness": ("getting good news from a friend", "seeing an old classmate again", "winning a small prize",
                  "hearing a joke at dinner", "finishing a long project", "being praised by a teacher",
                  "opening a birthday present", "watching a puppy play"),
    "sadness": ("saying goodbye at a station", "hearing that a trip is cancelled", "losing a favourite book",
                "remembering a lost pet", "failing an exam", "reading a sad letter", "missing the last bus home",
                "watching an old shop close"),
    "surprise": ("finding money in an old coat", "a friend appearing unexpectedly", "a sudden loud noise",
                 "learning about a surprise party", "an unexpected phone call", "seeing snow in spring",
                 "a plot twist in a film", "a door opening by itself"),
    "fear": ("hearing footsteps in an empty house", "a near miss on the road", "walking alone at night",
             "a spider on the pillow", "turbulence on a flight", "a dog barking nearby", "a power cut in a storm",
             "waiting for test results"),
    "disgust": ("smelling spoiled milk", "finding a hair in the soup", "stepping in something sticky",
                "seeing a dirty kitchen", "tasting bitter medicine", "a bad smell on the bus",
                "mould on the bread", "an overflowing bin"),
    "anger": ("being cut off in traffic", "a broken promise", "someone jumping the queue",
              "a rude reply from a stranger", "a lost parcel", "being blamed unfairly", "a noisy neighbour at 3 am",
              "an overcharged bill"),
    "neutral": ("reading the news aloud", "giving directions to a visitor", "reporting the weather",
                "introducing a colleague", "explaining a recipe", "describing a daily routine",
                "answering a survey", "ordering at a counter"),
}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _strength(rng: np.random.Generator, level: float, table: tuple = _STRENGTH) -> str:
    for bound, words in table:
        if level < bound:
            return _pick(rng, words)
    return ""


def describe(rng: np.random.Generator, values: np.ndarray, fps: float, emotion: EmotionProgram,
             actions: ActionProgram | None = None, words_per_s: float | None = None) -> dict[str, str]:
    """The five text levels of one example (speech when ``actions`` is None)."""
    subject = _pick(rng, _SUBJECT)
    return {"action": action_text(rng, subject, actions, words_per_s), "emotion": emotion_text(rng, subject, emotion),
            "expression": expression_text(rng, subject, values, fps, speech=actions is None),
            "head_pose": head_pose_text(rng, subject, values, fps), "scenario": scenario_text(rng, emotion.dominant)}


def action_text(rng: np.random.Generator, subject: str, actions: ActionProgram | None,
                words_per_s: float | None) -> str:
    if actions is None:
        verb = _pick(rng, ("talks", "speaks", "says a sentence", "is talking", "speaks to the camera"))
        pace = ""
        if words_per_s is not None and words_per_s > 3.3:
            pace = " " + _pick(rng, ("quickly", "fast", "at a brisk pace"))
        elif words_per_s is not None and words_per_s < 2.3:
            pace = " " + _pick(rng, ("slowly", "at a slow pace", "deliberately"))
        return f"{subject} {verb}{pace}."
    parts = [_pick(rng, _ACTION_TEXT[name]) for name in actions.names]
    text = parts[0]
    for part in parts[1:]:
        text += _pick(rng, _THEN) + part
    return f"{subject} {text} without speaking." if rng.random() < 0.3 else f"{subject} {text}."


def emotion_text(rng: np.random.Generator, subject: str, program: EmotionProgram) -> str:
    def adj(name: str, level: float) -> str:
        return f"{_strength(rng, level)} {_pick(rng, _ADJ[name])}".strip()

    if program.kind == "neutral" or not program.emotions:
        return f"{subject} {_pick(rng, ('looks', 'appears', 'stays'))} {_pick(rng, _ADJ['neutral'])} throughout."
    (e1, a) = program.emotions[0]
    if program.kind == "constant":
        return f"{subject} {_pick(rng, ('looks', 'appears', 'seems'))} {adj(e1, a)} " \
               f"{_pick(rng, ('throughout', 'the whole time', 'from start to finish'))}."
    if program.kind == "rise":
        return f"{subject} starts {_pick(rng, _ADJ['neutral'])} and {_pick(rng, ('becomes', 'grows', 'turns'))} " \
               f"{adj(e1, a)}."
    if program.kind == "switch":
        e2, b = program.emotions[1]
        return f"{subject} {_pick(rng, ('looks', 'seems'))} {adj(e1, a)} at first, then " \
               f"{_pick(rng, ('becomes', 'turns', 'changes to being'))} {adj(e2, b)}."
    return f"{subject} is {_pick(rng, _ADJ['neutral'])}, {_pick(rng, ('briefly', 'for a moment'))} " \
           f"{_pick(rng, ('becomes', 'looks'))} {adj(e1, a)}, and {_pick(rng, ('calms down', 'settles again'))}."


def _group_levels(values: np.ndarray, speech: bool) -> dict[str, np.ndarray]:
    """Per expression group: its strongest channel per frame."""
    return {name: np.max(values[[_IDX[c] for c in chans]], axis=0)
            for name, chans, _ in _GROUPS if not (speech and name in _SPEECH_GROUPS)}


def count_blinks(values: np.ndarray) -> int:
    closed = np.minimum(values[_IDX["eyeBlinkLeft"]], values[_IDX["eyeBlinkRight"]]) > 0.5
    return int(np.sum(closed[1:] & ~closed[:-1]) + (1 if closed.size and closed[0] else 0))


def expression_text(rng: np.random.Generator, subject: str, values: np.ndarray, fps: float, *, speech: bool) -> str:
    levels = _group_levels(values, speech)
    n = values.shape[1]
    thirds = [slice(i * n // 3, max((i + 1) * n // 3, i * n // 3 + 1)) for i in range(3)]
    active: list[list[tuple[str, float]]] = []
    for part in thirds:
        found = [(name, float(np.percentile(curve[part], 90))) for name, curve in levels.items()]
        active.append(sorted([f for f in found if f[1] >= 0.15], key=lambda f: -f[1])[:3])
    phrases = {name: phrases for name, _, phrases in _GROUPS}
    everywhere = set.intersection(*(set(n for n, _ in a) for a in active)) if all(active) else set()
    sentences = []
    if everywhere:
        peak = {g: max(lv for a in active for n, lv in a if n == g) for g in everywhere}
        items = [f"{_pick(rng, phrases[g])} {_strength(rng, peak[g], _STRENGTH_ADV)}" for g in sorted(everywhere)]
        sentences.append(f"Throughout the clip, {subject.lower()} " + " and ".join(items) + ".")
    for when, found in zip(_WHEN, active, strict=True):
        rest = [(g, lv) for g, lv in found if g not in everywhere]
        if rest:
            items = [f"{_pick(rng, phrases[g])} {_strength(rng, lv, _STRENGTH_ADV)}" for g, lv in rest]
            sentences.append(f"{_pick(rng, when)}, {subject.lower()} " + " and ".join(items) + ".")
    blinks = count_blinks(values)
    rate = blinks / max(n / fps, 1e-3)
    if rate > 0.9:
        sentences.append(f"{subject} {_pick(rng, ('blinks often', 'blinks a lot', 'blinks frequently'))}.")
    elif blinks == 0 and n / fps > 3:
        sentences.append(f"{subject} {_pick(rng, ('hardly blinks', 'does not blink'))}.")
    if speech:
        sentences.append(_pick(rng, ("The lips and jaw move with the speech.", "The mouth follows the words.",
                                     "The mouth articulates the speech.")))
    if not sentences:
        sentences.append(f"{subject}'s face stays {_pick(rng, ('relaxed', 'still', 'neutral'))}.")
    return " ".join(sentences)


def _oscillations(curve: np.ndarray, threshold: float) -> int:
    """Direction changes of a head-rotation curve between turning points at least ``threshold`` apart."""
    count, last_extreme, direction = 0, float(curve[0]) if curve.size else 0.0, 0
    for v in curve[1:]:
        if direction >= 0 and v < last_extreme - threshold:
            count += direction > 0
            direction, last_extreme = -1, float(v)
        elif direction <= 0 and v > last_extreme + threshold:
            count += direction < 0
            direction, last_extreme = 1, float(v)
        elif (direction > 0 and v > last_extreme) or (direction < 0 and v < last_extreme):
            last_extreme = float(v)
    return count


def head_pose_text(rng: np.random.Generator, subject: str, values: np.ndarray, fps: float) -> str:
    yaw, pitch, roll = (values[_IDX[c]] for c in ("HeadYaw", "HeadPitch", "HeadRoll"))
    ranges = {axis: float(np.percentile(c, 95) - np.percentile(c, 5)) for axis, c in
              (("yaw", yaw), ("pitch", pitch), ("roll", roll))}
    if max(ranges.values()) < 0.03:
        return f"{subject} {_pick(rng, ('keeps the head almost still', 'holds the head steady'))}" \
               f"{_pick(rng, ('', ' throughout', ' with no noticeable rotation'))}."
    axis = max(ranges, key=ranges.__getitem__)
    size = ranges[axis]
    amount = _pick(rng, ("slight", "small", "gentle")) if size < 0.08 else \
        _pick(rng, ("moderate", "clear")) if size < 0.2 else _pick(rng, ("large", "big", "pronounced"))
    curve = {"yaw": yaw, "pitch": pitch, "roll": roll}[axis]
    swings = _oscillations(curve, max(0.4 * size, 0.01))
    if axis == "pitch":
        text = f"nods {_pick(rng, ('repeatedly', 'several times'))}" if swings >= 3 else \
            f"makes {amount} {_pick(rng, ('nods', 'up-and-down movements'))}"
    elif axis == "yaw":
        side = "left" if float(np.mean(yaw)) > 0 else "right"
        text = _pick(rng, ("shakes the head", "turns the head from side to side")) if swings >= 3 else \
            f"turns the head {_pick(rng, ('a little', 'somewhat'))} to the {side}" if size < 0.08 else \
            f"makes {amount} turns of the head, mostly to the {side}"
    else:
        text = f"tilts the head {_pick(rng, ('to the side', 'sideways'))} with {amount} rolls"
    extra = [a for a, r in ranges.items() if a != axis and r >= 0.05]
    more = {"yaw": "some turning", "pitch": "some nodding", "roll": "some tilting"}
    tail = f", with {' and '.join(more[a] for a in extra)}" if extra else ""
    return f"{subject} {text}{tail}."


def scenario_text(rng: np.random.Generator, emotion: str) -> str:
    pool = _SCENARIOS.get(emotion, _SCENARIOS["neutral"])
    chosen = rng.choice(len(pool), 3, replace=False)
    return "; ".join(f"{i + 1}. {pool[int(c)][0].upper()}{pool[int(c)][1:]}" for i, c in enumerate(chosen)) + "."
