"""Energy checks on pocketsphinx's phone boundaries around pauses.

Why: the aligner's silence decisions are its weakest point, and both of its mistakes are visible
on the face. Measured on espeak-ng speech (5 voices x 3 texts; tests/audio/test_phonetic.py holds
the cases, bench/lipsync_eval.py the onset errors):

- a pause swallowed by the neighbouring phone: in "bike, and" the 150 ms comma pause became part
  of the /ae/ of "and", so the mouth held a vowel 8-10 mm open in silence; 5 of 45 pauses of
  >= 80 ms went into a vowel or a weak fricative (/dh f/) that way;
- speech swallowed by a pause: after a sentence pause the /m/ of "Maybe" started 80-90 ms late,
  its murmur labelled silence, so the lips stayed apart where they should have closed.

Both are plain to see in the signal, which the acoustic models see only after cepstral mean
normalisation: a pause is tens of dB below the speech and close to the recording's own noise
floor, a nasal murmur is within ~20 dB of the vowels. So, on 10 ms frames of the audio:

1. a run of quiet frames at least ``MIN_PAUSE_S`` long inside a phone that cannot be silent
   (anything but a stop, whose closure is silent by nature) becomes silence; a sliver of the
   phone shorter than ``MIN_PIECE_S`` left on one side goes to the neighbour on that side;
2. where a pause ends (starts) with speech-level frames right before (after) the next (previous)
   phone, that phone is extended over them, by at most ``MAX_SHIFT_S``.

With both, 45 of 45 pauses are silence and the /m/ of "Maybe" starts within 10 ms; the onsets of
all 185 /p b m/ moved by 1 ms in the median. Not handled: a pause the aligner *inserts* inside a
word's stop closure and stretches over the vowel after it ("big bowl", en-gb-x-rp: the /b/ 200 ms
late) -- the pause has no quiet core of ``MIN_PAUSE_S`` and too much speech to hand to one phone.

"Quiet" and "speech-level" are relative to the clip (its loud level and noise floor), and a clip
whose pauses are not clearly quieter than its speech (a noisy recording) is left as it is: the
rules then find no quiet frames. Phones are never removed, only moved or split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmface_studio.audio.phonetic_track import SILENCE, Phone

_HOP = 160  # 10 ms at 16 kHz, pocketsphinx's frame step
_RATE = 100.0
#: The clip's loud level: this percentile of its 10 ms frame energies; its noise floor: the low one.
LOUD_PERCENTILE, FLOOR_PERCENTILE = 95.0, 5.0
#: A frame is quiet when it is at least ``QUIET_BELOW_LOUD_DB`` below the loud level and within
#: ``QUIET_ABOVE_FLOOR_DB`` of the noise floor (but never required to be more than
#: ``QUIET_NEVER_BELOW_LOUD_DB`` below the loud level, for digital silence).
QUIET_BELOW_LOUD_DB = 35.0
QUIET_ABOVE_FLOOR_DB = 6.0
QUIET_NEVER_BELOW_LOUD_DB = 50.0
#: Speech-level: within this many dB of the loud level (a nasal murmur is ~15-20 dB down).
SPEECH_BELOW_LOUD_DB = 30.0
#: Shortest quiet run taken out of a phone: no vowel, glide, nasal or fricative is that silent.
MIN_PAUSE_S = 0.06
#: A piece of a phone shorter than this, left beside a carved pause, joins its neighbour.
MIN_PIECE_S = 0.03
#: Longest stretch of speech-level frames a phone is extended over into a pause.
MAX_SHIFT_S = 0.12
#: Phones whose closure is silent: a quiet run inside them is part of the sound.
STOPS = frozenset("P B T D K G CH JH".split())


@dataclass(frozen=True)
class Levels:
    """Per 10 ms frame: quiet (pause-like) and speech-level flags."""

    quiet: np.ndarray
    speech: np.ndarray


def frame_levels(audio16k: np.ndarray) -> Levels:
    """Quiet / speech-level flags for each 10 ms frame (samples [160 i, 160 i + 160))."""
    x = np.asarray(audio16k, np.float64).reshape(-1)
    n = len(x) // _HOP
    if n == 0:
        return Levels(np.zeros(0, bool), np.zeros(0, bool))
    db = 10.0 * np.log10(np.mean(x[: n * _HOP].reshape(n, _HOP) ** 2, axis=1) + 1e-12)
    loud = float(np.percentile(db, LOUD_PERCENTILE))
    db = np.maximum(db, loud - 90.0)
    floor = float(np.percentile(db, FLOOR_PERCENTILE))
    quiet_at = min(loud - QUIET_BELOW_LOUD_DB, max(floor + QUIET_ABOVE_FLOOR_DB, loud - QUIET_NEVER_BELOW_LOUD_DB))
    return Levels(db <= quiet_at, db >= loud - SPEECH_BELOW_LOUD_DB)


def _frame(t: float) -> int:
    return int(round(t * _RATE))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where ``flags`` is True."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def refine_phones(phones: Sequence[Phone], audio16k: np.ndarray) -> list[Phone]:
    """``phones`` (contiguous, from pocketsphinx, 10 ms grid) with pauses carved out of phones and
    pause edges moved to where the speech starts and stops. See the module docstring."""
    levels = frame_levels(audio16k)
    if levels.quiet.size == 0 or not levels.quiet.any():
        return list(phones)
    # Work on frame indices: [label, start, end, word]; the last phone keeps its exact end time.
    cells = [[p.label, _frame(p.start), _frame(p.end), p.word] for p in phones]
    cells = _carve_pauses(cells, levels)
    _move_pause_edges(cells, levels)
    out = [Phone(label, a / _RATE, b / _RATE, word) for label, a, b, word in cells if b > a]
    if out and phones:
        last = out[-1]
        out[-1] = Phone(last.label, last.start, max(phones[-1].end, last.start + 1e-6), last.word)
    return out


def _carve_pauses(cells: list[list], levels: Levels) -> list[list]:
    min_run, min_piece = round(MIN_PAUSE_S * _RATE), round(MIN_PIECE_S * _RATE)
    out: list[list] = []
    for k, (label, a, b, word) in enumerate(cells):
        if label == SILENCE or label in STOPS or b - a < min_run:
            out.append([label, a, b, word])
            continue
        runs = [(a + s, a + e) for s, e in _runs(levels.quiet[a:b]) if e - s >= min_run]
        if not runs:
            out.append([label, a, b, word])
            continue
        qa, qb = max(runs, key=lambda r: r[1] - r[0])
        left, right = qa - a, b - qb
        if left < min_piece and right < min_piece:
            # Nearly all of the phone is quiet: keep a minimal piece on the side of its word.
            same_word_after = k + 1 < len(cells) and cells[k + 1][3] == word and word is not None
            if same_word_after:
                qb, right = b - min_piece, min_piece
            else:
                qa, left = a + min_piece, min_piece
        if 0 < left < min_piece and right >= min_piece and out and out[-1][0] != SILENCE:
            out[-1][2] = qa  # the sliver before the pause belongs to the previous phone
            left = 0
        elif left > 0:
            out.append([label, a, qa, word])
        out.append([SILENCE, qa, qb, None])
        if 0 < right < min_piece and left >= min_piece and k + 1 < len(cells) and cells[k + 1][0] != SILENCE:
            cells[k + 1][1] = qb
        elif right > 0:
            out.append([label, qb, b, word])
    return _merge_silences(out)


def _merge_silences(cells: list[list]) -> list[list]:
    out: list[list] = []
    for cell in cells:
        if out and cell[0] == SILENCE and out[-1][0] == SILENCE:
            out[-1][2] = cell[2]
        elif cell[2] > cell[1]:
            out.append(cell)
    return out


def _move_pause_edges(cells: list[list], levels: Levels) -> None:
    """Extend phones over the speech-level frames at the edges of the pauses next to them."""
    limit, n = round(MAX_SHIFT_S * _RATE), levels.quiet.size
    min_run = round(MIN_PAUSE_S * _RATE)
    for k, (label, a, b, _) in enumerate(cells):
        if label != SILENCE or min(b, n) - a < min_run:
            continue
        quiet = levels.quiet[a : min(b, n)]
        if not any(e - s >= min_run for s, e in _runs(quiet)):
            continue  # not a real pause: leave its edges alone
        speech = levels.speech[a : min(b, n)]
        if k + 1 < len(cells):  # the next phone starts at the speech onset
            run = _edge_run(speech[::-1], quiet[::-1])
            if 0 < run <= limit:
                cells[k][2] -= run
                cells[k + 1][1] -= run
                b -= run
        if k > 0:  # the previous phone ends at the speech offset
            run = _edge_run(speech[: b - a], quiet[: b - a])
            if 0 < run <= limit:
                cells[k][1] += run
                cells[k - 1][2] += run


def _edge_run(speech: np.ndarray, quiet: np.ndarray) -> int:
    """Length of the run of speech-level frames at the start of ``speech`` when a quiet frame
    follows it (so that the pause keeps its quiet core); 0 otherwise."""
    if speech.size == 0 or not speech[0]:
        return 0
    stop = int(np.argmin(speech)) if not speech.all() else speech.size
    rest = quiet[stop:]
    return stop if rest.any() else 0
