"""TTS phone inventories -> ARPAbet phone spans, the vocabulary of the classic engine.

Why a module of its own: each synthesiser reports its timing in its own symbols (espeak-ng
mnemonics, festival's "radio" phone set, Piper's IPA codepoints), while the classic engine, the
lip metrics and the corpus index speak ARPAbet without stress. The tables only need to be right
about what the mouth does (vowel quality, rounding, bilabial/labiodental/other consonants);
where two phones look alike on the face the nearer one is good enough.

Each converter returns ``PhoneSpan`` tuples (``engine.request``) that tile ``[0, duration)``
with ``SIL`` in the gaps, so targets built from them cover every frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mmface_studio.engine.request import SILENCE, VOWELS, PhoneSpan

#: espeak-ng (en, en-us and the British/Caribbean/NYC variants) phoneme mnemonics -> ARPAbet.
ESPEAK: dict[str, str] = {
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "?": "T", "t#": "T", "t[": "T",
    "f": "F", "v": "V", "T": "TH", "D": "DH", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "x": "HH",
    "tS": "CH", "dZ": "JH", "m": "M", "m-": "M", "n": "N", "n-": "N", "N": "NG", "l": "L", "l-": "L", "@L": "L",
    "r": "R", "r-": "R", "w": "W", "w#": "W", "W": "W", "j": "Y",
    "i": "IY", "i:": "IY", "i@": "IY", "i@3": "IY", "I": "IH", "I#": "IH", "I2": "IH", "IR": "ER",
    "e": "EH", "E": "EH", "e@": "EH", "e:": "EY", "eI": "EY", "a": "AE", "aa": "AE", "a#": "AH",
    "@": "AH", "@2": "AH", "@5": "AH", "V": "AH", "VR": "ER", "3": "ER", "3:": "ER",
    "0": "AA", "A:": "AA", "A@": "AA", "O": "AO", "O:": "AO", "O2": "AO", "O@": "AO", "o@": "AO",
    "o": "OW", "oU": "OW", "@U": "OW", "U": "UH", "U@": "UH", "u:": "UW", "u": "UW",
    "aI": "AY", "aI2": "AY", "aI3": "AY", "aI@": "AY", "aU": "AW", "aU@": "AW", "OI": "OY",
    "_": SILENCE, "_:": SILENCE, "_!": SILENCE, "||": SILENCE,
}

#: festival's radio phone set (kal/ked diphone and the CMU HTS voices) -> ARPAbet.
FESTIVAL: dict[str, str] = {"pau": SILENCE, "h#": SILENCE, "brth": SILENCE, "ax": "AH", "axr": "ER", "dx": "D",
                            "el": "L", "em": "M", "en": "N", "nx": "N", "hv": "HH", "ix": "IH"}

#: Piper (espeak-ng IPA, one codepoint per token) -> ARPAbet; two-token diphthongs and affricates below.
_IPA: dict[str, str] = {
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "ɡ": "G", "g": "G", "ʔ": "T", "ɾ": "D",
    "f": "F", "v": "V", "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH", "x": "HH",
    "m": "M", "n": "N", "ŋ": "NG", "l": "L", "ɫ": "L", "ɹ": "R", "r": "R", "ɻ": "R", "w": "W", "j": "Y",
    "i": "IY", "ɪ": "IH", "ᵻ": "IH", "e": "EH", "ɛ": "EH", "æ": "AE", "a": "AE", "ɐ": "AH", "ə": "AH",
    "ʌ": "AH", "ɚ": "ER", "ɝ": "ER", "ɜ": "ER", "ɑ": "AA", "ɒ": "AA", "ɔ": "AO", "o": "OW", "ʊ": "UH",
    "u": "UW",
}
_IPA_PAIRS: dict[tuple[str, str], str] = {
    ("a", "ɪ"): "AY", ("a", "ʊ"): "AW", ("e", "ɪ"): "EY", ("o", "ʊ"): "OW", ("ə", "ʊ"): "OW",
    ("ɔ", "ɪ"): "OY", ("t", "ʃ"): "CH", ("d", "ʒ"): "JH",
}
_IPA_PREFIX = frozenset("ˈˌ")  # stress: belongs to the phone after it
_IPA_SUFFIX = frozenset("ː̃ʲʰ")  # length and secondary marks: belong to the phone before
_IPA_PAUSE = frozenset(".,;:!?—…^$_")
_ESPEAK_VOWEL_START = frozenset("aeiouAEIOUV@03")


def espeak_label(symbol: str) -> str:
    """ARPAbet for an espeak-ng mnemonic; unknown ones by their base letter (vowel -> AH)."""
    if symbol in ESPEAK:
        return ESPEAK[symbol]
    base = symbol.rstrip("0123456789#@:;[-")
    if base in ESPEAK:
        return ESPEAK[base]
    if symbol[:1] in _ESPEAK_VOWEL_START:
        return "AH"
    return SILENCE if symbol.startswith("_") else "HH"


def festival_label(symbol: str) -> str:
    """ARPAbet for a festival radio-set phone (already ARPAbet apart from a few names)."""
    key = symbol.strip().lower()
    return FESTIVAL.get(key, key.upper())


def tile(events: Sequence[tuple[str, float, float]], duration: float) -> tuple[PhoneSpan, ...]:
    """Sorted, non-overlapping spans covering [0, duration): gaps become SIL, equal neighbours stay apart."""
    out: list[PhoneSpan] = []
    t = 0.0
    for label, start, end in sorted(events, key=lambda e: e[1]):
        start, end = max(start, t), min(end, duration)
        if end <= start + 1e-6:
            continue
        if start > t + 1e-6:
            out.append(PhoneSpan(SILENCE, t, start))
        out.append(PhoneSpan(label, start, end))
        t = end
    if duration > t + 1e-6:
        out.append(PhoneSpan(SILENCE, t, duration))
    return _merge_silence(out)


def _merge_silence(spans: list[PhoneSpan]) -> tuple[PhoneSpan, ...]:
    out: list[PhoneSpan] = []
    for span in spans:
        if out and span.label == SILENCE and out[-1].label == SILENCE:
            out[-1] = PhoneSpan(SILENCE, out[-1].start, span.end)
        else:
            out.append(span)
    return tuple(out)


def espeak_spans(phones: Sequence[Any], audio16k: Any, duration: float) -> tuple[PhoneSpan, ...]:
    """Spans from espeak-ng phoneme events, with /p b m/ moved onto their true lip closure.

    espeak-ng marks a stop at its release, not its closure (see ``engine.metrics.
    espeak_bilabial_intervals``). Without this correction the teacher would close the lips up to
    100 ms late on every /p b/; with it, each bilabial span is the closure interval measured in
    the audio, the phone before it ends where the closure starts and the one after it starts at
    the release.
    """
    from mmface_studio.engine.metrics import espeak_bilabial_intervals

    starts = [(espeak_label(str(p.symbol)), float(p.start)) for p in phones]
    events = [[label, start, starts[k + 1][1] if k + 1 < len(starts) else duration]
              for k, (label, start) in enumerate(starts)]
    closures = iter(espeak_bilabial_intervals(phones, audio16k))
    for k, phone in enumerate(phones):
        if str(phone.symbol) not in ("p", "b", "m", "m-"):
            continue
        _, c_start, c_end = next(closures)
        if c_end - c_start < 0.03:  # no silent stretch found: a short closure ending at the release
            c_start = max(c_end - 0.04, events[k - 1][1] + 0.01 if k else 0.0)
        events[k][1], events[k][2] = c_start, max(c_end, c_start + 0.02)
        if k:
            events[k - 1][2] = min(events[k - 1][2], c_start)
        if k + 1 < len(events):
            events[k + 1][1] = events[k][2]
    return tile([(lab, s, e) for lab, s, e in events], duration)


def festival_spans(segments: Iterable[tuple[float, str]], duration: float) -> tuple[PhoneSpan, ...]:
    """Spans from festival's segment relation: (end time, phone) in order, each starting where the last ended."""
    events, t = [], 0.0
    for end, symbol in segments:
        events.append((festival_label(symbol), t, float(end)))
        t = float(end)
    return tile(events, duration)


def ipa_spans(tokens: Sequence[tuple[str, int]], rate: int, duration: float) -> tuple[PhoneSpan, ...]:
    """Spans from Piper's per-token sample counts (its duration model's output, so exact to a hop).

    Stress marks give their time to the next phone, length marks to the previous one, a word
    space is split between its neighbours (it is not a pause in the audio) and punctuation and
    the utterance ends become silence.
    """
    units: list[list[Any]] = []  # [label | marker, start, end]
    t = 0.0
    for symbol, samples in tokens:
        start, t = t, t + samples / rate
        units.append([symbol, start, t])
    merged: list[list[Any]] = []
    i = 0
    while i < len(units):
        sym, start, end = units[i]
        nxt = units[i + 1][0] if i + 1 < len(units) else None
        if nxt is not None and (sym, nxt) in _IPA_PAIRS:
            merged.append([_IPA_PAIRS[sym, nxt], start, units[i + 1][2]])
            i += 2
            continue
        merged.append([sym, start, end])
        i += 1
    spans: list[list[Any]] = []
    carry_from: float | None = None
    for sym, start, end in merged:
        if sym in _IPA_PREFIX:
            carry_from = start if carry_from is None else carry_from
            continue
        if sym in _IPA_SUFFIX:
            if spans:
                spans[-1][2] = end
            continue
        if sym == " ":
            mid = 0.5 * (start + end)
            if spans:
                spans[-1][2] = mid
            carry_from = mid if carry_from is None else carry_from
            continue
        label = SILENCE if sym in _IPA_PAUSE else sym if sym in _IPA_PAIRS.values() else _IPA.get(sym)
        if label is None:  # an unknown symbol: its time goes to the phone before it
            if spans:
                spans[-1][2] = end
            continue
        spans.append([label, carry_from if carry_from is not None else start, end])
        carry_from = None
    return tile([(lab, s, e) for lab, s, e in spans], duration)


def is_vowel(label: str) -> bool:
    return label in VOWELS
