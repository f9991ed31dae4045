"""ARPAbet phones -> viseme classes -> ARKit mouth targets, with per-viseme dominance.

Why classes and not one shape per phone: many phones look alike on the face (T D N, K G NG...),
and what differs between classes is as much *how strongly* a sound claims the mouth as the shape
itself. A /p/ must close the lips whatever surrounds it (high lip dominance), while a /t/ or /k/
leaves the lips to its neighbours (low dominance) -- the Cohen-Massaro view of coarticulation.

Dominance is given per channel group, because one phone can dominate the jaw but not the lips:
``jaw`` (jawOpen, jawForward), ``lips`` (closure, press, roll, raise/lower, stretch, smile,
tongue) and ``round`` (funnel, pucker). Rounded sounds also reach further back in time on the
``round`` group (``anticipation``): lips start rounding several phones before an /uw/.

Targets are for an ordinary conversational level; the jaw and lip-opening channels are scaled
by loudness later (coarticulation.py). Diphthongs are two targets (onset and offglide).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES

GROUPS: tuple[str, ...] = ("jaw", "lips", "round")

#: The mouth channels the lip-sync writes, with their dominance group.
MOUTH_CHANNELS: dict[str, str] = {
    "jawOpen": "jaw", "jawForward": "jaw",
    "mouthClose": "lips", "mouthPressLeft": "lips", "mouthPressRight": "lips",
    "mouthRollLower": "lips", "mouthRollUpper": "lips",
    "mouthUpperUpLeft": "lips", "mouthUpperUpRight": "lips",
    "mouthLowerDownLeft": "lips", "mouthLowerDownRight": "lips",
    "mouthStretchLeft": "lips", "mouthStretchRight": "lips",
    "mouthSmileLeft": "lips", "mouthSmileRight": "lips",
    "mouthShrugUpper": "lips", "tongueOut": "lips",
    "mouthFunnel": "round", "mouthPucker": "round",
}
#: Channels that open the mouth: scaled with loudness (louder speech, wider jaw and lips).
OPENING_CHANNELS: tuple[str, ...] = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight")

_INDEX = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}
_SYMMETRIC = ("mouthPress", "mouthUpperUp", "mouthLowerDown", "mouthStretch", "mouthSmile")


def expand_symmetric(shape: dict[str, float]) -> dict[str, float]:
    """``mouthSmile: 0.3`` -> ``mouthSmileLeft: 0.3, mouthSmileRight: 0.3`` (speech is symmetric)."""
    out: dict[str, float] = {}
    for name, value in shape.items():
        if name in _SYMMETRIC or name in ("browDown", "browOuterUp", "cheekSquint", "eyeSquint", "eyeWide",
                                          "mouthFrown", "mouthDimple", "noseSneer", "eyeBlink"):
            out[name + "Left"] = out[name + "Right"] = value
        else:
            out[name] = value
    return out


@dataclass(frozen=True)
class Viseme:
    """A visible mouth class: target shape, dominance per group, spread in time.

    ``spread``: seconds over which the dominance decays by 1/e outside the phone's hold;
    ``anticipation``: multiplier of the backward spread on the ``round`` group (lookahead);
    ``hold_exempt``: never thinned when shorter than the minimum hold (lip closures and
    labiodentals must be seen, however short).
    """

    name: str
    targets: MappingProxyType
    dominance: tuple[float, float, float]
    spread: float = 0.07
    anticipation: float = 1.0
    hold_exempt: bool = False

    def vector(self) -> np.ndarray:
        out = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
        for name, value in self.targets.items():
            out[_INDEX[name]] = value
        return out


def _v(name: str, dominance: tuple[float, float, float], spread: float = 0.07, anticipation: float = 1.0,
       hold_exempt: bool = False, **shape: float) -> Viseme:
    targets = expand_symmetric(shape)
    unknown = set(targets) - set(MOUTH_CHANNELS)
    assert not unknown, f"viseme {name} writes non-mouth channels {unknown}"
    return Viseme(name, MappingProxyType(targets), dominance, spread, anticipation, hold_exempt)


#: Relaxed rest: jaw barely dropped, lips lightly together (mouthClose cancels the jaw's lip gap).
REST = _v("rest", (0.6, 0.6, 0.6), 0.12, jawOpen=0.03, mouthClose=0.03)

VISEMES: dict[str, Viseme] = {v.name: v for v in (
    REST,
    _v("PBM", (0.9, 1.0, 0.25), 0.06, hold_exempt=True,
       jawOpen=0.05, mouthClose=0.10, mouthPress=0.35, mouthRollLower=0.12, mouthRollUpper=0.10),
    _v("FV", (0.8, 1.0, 0.4), 0.06, hold_exempt=True,
       jawOpen=0.07, mouthRollLower=0.55, mouthUpperUp=0.2),
    _v("TH", (0.6, 0.6, 0.2), 0.06, jawOpen=0.12, tongueOut=0.35, mouthLowerDown=0.08),
    _v("TDN", (0.45, 0.25, 0.1), 0.06, jawOpen=0.12, mouthLowerDown=0.05),
    _v("L", (0.35, 0.2, 0.1), 0.06, jawOpen=0.18, mouthLowerDown=0.05),
    _v("SZ", (0.8, 0.45, 0.3), 0.06, jawOpen=0.06, mouthStretch=0.15, mouthUpperUp=0.08, mouthLowerDown=0.08),
    _v("SH", (0.7, 0.5, 0.7), 0.07, 1.5,
       jawOpen=0.08, mouthFunnel=0.35, mouthPucker=0.15, mouthUpperUp=0.12, mouthLowerDown=0.1, mouthShrugUpper=0.1),
    _v("KG", (0.35, 0.15, 0.1), 0.06, jawOpen=0.15),
    _v("R", (0.4, 0.4, 0.6), 0.07, 1.5, jawOpen=0.1, mouthFunnel=0.2, mouthPucker=0.25),
    _v("W", (0.6, 0.7, 1.0), 0.08, 2.5, jawOpen=0.05, mouthPucker=0.7, mouthFunnel=0.35),
    _v("Y", (0.4, 0.4, 0.5), 0.06, jawOpen=0.08, mouthStretch=0.2, mouthSmile=0.08),
    _v("HH", (0.05, 0.05, 0.05), 0.05, jawOpen=0.2),
    _v("AA", (0.8, 0.6, 0.5), 0.08, jawOpen=0.55, mouthLowerDown=0.2, mouthUpperUp=0.05),
    _v("AO", (0.8, 0.6, 0.7), 0.08, 1.5, jawOpen=0.45, mouthFunnel=0.3, mouthPucker=0.1, mouthLowerDown=0.1),
    _v("AH", (0.7, 0.5, 0.4), 0.08, jawOpen=0.32, mouthLowerDown=0.1),
    _v("AE", (0.8, 0.6, 0.6), 0.08,
       jawOpen=0.42, mouthStretch=0.25, mouthLowerDown=0.2, mouthUpperUp=0.1, mouthSmile=0.05),
    _v("EH", (0.7, 0.5, 0.5), 0.08, jawOpen=0.3, mouthStretch=0.2, mouthLowerDown=0.12),
    _v("IY", (0.6, 0.6, 0.7), 0.08, jawOpen=0.1, mouthStretch=0.35, mouthSmile=0.12, mouthUpperUp=0.05),
    _v("IH", (0.6, 0.5, 0.5), 0.08, jawOpen=0.16, mouthStretch=0.25, mouthSmile=0.06),
    _v("ER", (0.5, 0.5, 0.6), 0.08, 1.5, jawOpen=0.15, mouthFunnel=0.25, mouthPucker=0.15),
    _v("UH", (0.6, 0.6, 0.9), 0.08, 2.0, jawOpen=0.15, mouthPucker=0.35, mouthFunnel=0.25),
    _v("UW", (0.6, 0.7, 1.0), 0.08, 2.5, jawOpen=0.1, mouthPucker=0.65, mouthFunnel=0.35),
    _v("OW", (0.7, 0.7, 1.0), 0.08, 2.5, jawOpen=0.28, mouthFunnel=0.55, mouthPucker=0.35),
)}

#: Phone -> viseme(s). Diphthongs list (onset, offglide, onset share of the duration).
PHONE_VISEMES: dict[str, tuple[str, ...]] = {
    "SIL": ("rest",), "P": ("PBM",), "B": ("PBM",), "M": ("PBM",), "F": ("FV",), "V": ("FV",),
    "TH": ("TH",), "DH": ("TH",), "T": ("TDN",), "D": ("TDN",), "N": ("TDN",), "L": ("L",),
    "S": ("SZ",), "Z": ("SZ",), "SH": ("SH",), "ZH": ("SH",), "CH": ("SH",), "JH": ("SH",),
    "K": ("KG",), "G": ("KG",), "NG": ("KG",), "R": ("R",), "W": ("W",), "Y": ("Y",), "HH": ("HH",),
    "AA": ("AA",), "AO": ("AO",), "AH": ("AH",), "AE": ("AE",), "EH": ("EH",), "IY": ("IY",), "IH": ("IH",),
    "ER": ("ER",), "UH": ("UH",), "UW": ("UW",), "OW": ("OW",),
    "AY": ("AA", "IH"), "AW": ("AA", "UH"), "EY": ("EH", "IY"), "OY": ("AO", "IY"),
}
DIPHTHONG_ONSET_SHARE = 0.6
#: A phone the table does not know (a dictionary oddity) is shown as a neutral vowel.
FALLBACK = "AH"

#: Hard-constraint classes (coarticulation.enforce_constraints): which phones trigger each.
CONSTRAINT_PHONES: dict[str, frozenset[str]] = {
    "bilabial": frozenset({"P", "B", "M"}),
    "labiodental": frozenset({"F", "V"}),
    "rounded": frozenset({"UW", "OW", "W"}),
}


def visemes_for(label: str) -> tuple[str, ...]:
    return PHONE_VISEMES.get(label, (FALLBACK,))


def viseme_table() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Names, targets (V x 52), dominance (V x 3), spread (V,), anticipation (V,), hold-exempt (V,) arrays."""
    names = list(VISEMES)
    vis = [VISEMES[n] for n in names]
    return (names, np.stack([v.vector() for v in vis]), np.array([v.dominance for v in vis], np.float32),
            np.array([v.spread for v in vis], np.float32), np.array([v.anticipation for v in vis], np.float32),
            np.array([v.hold_exempt for v in vis]))


def group_of_channels() -> np.ndarray:
    """(52,) group index per ARKit shape (-1 for channels the lip-sync never writes)."""
    out = np.full(len(ARKIT_BLENDSHAPES), -1, np.int64)
    for name, group in MOUTH_CHANNELS.items():
        out[_INDEX[name]] = GROUPS.index(group)
    return out
