"""Is a forced alignment believable? Decides when the phonetic track falls back to recognition.

A forced aligner always answers, even when the transcript belongs to another recording: it then
squeezes the words into a few frames, parks them in silence, or stretches them over speech they
do not match. Animating such an alignment makes the head mouth the wrong words, which is worse
than animating recognised phones. Three independent symptoms are checked, cheapest first:

1. structure: most words squashed to the minimum duration the phone models allow;
2. coverage: much of the loud (clearly voiced) audio falls inside aligned silence;
3. acoustic fit: the mean per-frame distance between the aligned path and the best-scoring
   acoustic unit of every frame (both decoders compute all units, so the numbers are
   comparable) is far worse than the same measure for free recognition of the same audio.

The thresholds were set on the 17 real dev recordings and on espeak-ng speech (correct
transcripts, other clips' transcripts, one-word substitutions); see ``bench/phonetic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmface_studio.audio.phonetic_decoder import FRAME_RATE, SAMPLE_RATE, RawAlignment

#: Per-frame acoustic gap (pocketsphinx's scaled log units, 0 = every frame on its best unit)
#: above which an alignment is accepted without running recognition for comparison. Correct
#: transcripts of real speech measured -19 to -42; other clips' transcripts -60 to -113.
SCORE_CLEARLY_FINE = -35.0
#: Largest accepted ratio of the alignment's per-frame gap to the recognition's. Correct
#: transcripts measured 0.95-1.15; other clips' transcripts 2.6 and more.
SCORE_RATIO_LIMIT = 1.6
#: A word counts as squashed when it has at most this many frames per phone.
SQUASHED_FRAMES_PER_PHONE = 1.5
#: Share of squashed words (of at least 3) that makes the alignment implausible.
SQUASHED_SHARE_LIMIT = 0.5
#: Loud frames are those within this many dB of the clip's 95th-percentile frame energy.
LOUD_WITHIN_DB = 15.0
#: Share of loud frames that may fall inside aligned silence.
LOUD_IN_SILENCE_LIMIT = 0.35

FILLER_PREFIXES = ("<", "[", "+")


def is_filler(name: str) -> bool:
    """Silence and noise entries of a pocketsphinx alignment (<s>, <sil>, [NOISE], +NSN+)."""
    return name.startswith(FILLER_PREFIXES)


@dataclass(frozen=True)
class AlignmentVerdict:
    """Outcome of the checks; ``reason`` is a user-facing sentence when ``ok`` is False."""

    ok: bool
    reason: str | None
    score_per_frame: float
    recognition_score_per_frame: float | None
    squashed_share: float
    loud_in_silence: float

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "score_per_frame": self.score_per_frame,
            "recognition_score_per_frame": self.recognition_score_per_frame,
            "squashed_share": self.squashed_share,
            "loud_in_silence": self.loud_in_silence,
        }


def frame_energy_db(audio16k: np.ndarray, n_frames: int) -> np.ndarray:
    """Energy (dB) of each 10 ms analysis frame, over pocketsphinx's 25.6 ms windows."""
    audio = np.asarray(audio16k, dtype=np.float64).reshape(-1)
    hop = SAMPLE_RATE // FRAME_RATE
    win = 410
    need = hop * n_frames + win
    if len(audio) < need:
        audio = np.pad(audio, (0, need - len(audio)))
    squares = np.concatenate([[0.0], np.cumsum(audio * audio)])
    starts = np.arange(n_frames) * hop
    energy = (squares[starts + win] - squares[starts]) / win
    return 10.0 * np.log10(energy + 1e-12)


def silence_mask(alignment: RawAlignment) -> np.ndarray:
    """True for frames the alignment gives to silence/noise, or to no entry at all."""
    mask = np.ones(alignment.n_frames, dtype=bool)
    for word in alignment.words:
        if not is_filler(word.name):
            mask[word.start : word.start + word.frames] = False
    return mask


def loud_in_silence_share(audio16k: np.ndarray, alignment: RawAlignment) -> float:
    """Share of loud frames that the alignment labels silence (0 when the clip has no loud frames)."""
    if alignment.n_frames == 0:
        return 0.0
    energy = frame_energy_db(audio16k, alignment.n_frames)
    loud = energy >= np.percentile(energy, 95) - LOUD_WITHIN_DB
    loud &= energy > -60.0  # an almost silent clip has no loud frames
    if not loud.any():
        return 0.0
    return float((loud & silence_mask(alignment)).sum() / loud.sum())


def squashed_share(alignment: RawAlignment) -> float:
    """Share of words no longer than ``SQUASHED_FRAMES_PER_PHONE`` frames per phone."""
    words = [w for w in alignment.words if not is_filler(w.name)]
    if not words:
        return 0.0
    squashed = [w.frames <= SQUASHED_FRAMES_PER_PHONE * max(1, len(w.phones)) for w in words]
    return float(np.mean(squashed))


def needs_recognition_baseline(alignment: RawAlignment) -> bool:
    """Whether the acoustic fit is poor enough that only a comparison with recognition can tell."""
    return alignment.score_per_frame < SCORE_CLEARLY_FINE


def judge_alignment(
    audio16k: np.ndarray,
    alignment: RawAlignment,
    recognition: RawAlignment | None = None,
) -> AlignmentVerdict:
    """Check an alignment; pass ``recognition`` (same audio) when `needs_recognition_baseline`."""
    spf = alignment.score_per_frame
    n_words = sum(1 for w in alignment.words if not is_filler(w.name))
    squashed = squashed_share(alignment)
    loud = loud_in_silence_share(audio16k, alignment)
    rec_spf = recognition.score_per_frame if recognition is not None else None
    reason = None
    if n_words >= 3 and squashed > SQUASHED_SHARE_LIMIT:
        reason = (
            f"The transcript does not fit the audio: {squashed:.0%} of its words were squeezed into "
            "the shortest possible time, so it is probably longer than what is said."
        )
    elif loud > LOUD_IN_SILENCE_LIMIT:
        reason = (
            f"The transcript does not fit the audio: {loud:.0%} of the clearly voiced audio was left "
            "outside every transcript word, so the recording says more than (or something other than) "
            "the transcript."
        )
    elif rec_spf is not None and rec_spf < 0 and spf / rec_spf > SCORE_RATIO_LIMIT:
        reason = (
            f"The transcript does not match the audio: the aligned words fit the sound "
            f"{spf / rec_spf:.1f} times worse than free recognition does."
        )
    return AlignmentVerdict(reason is None, reason, spf, rec_spf, squashed, loud)
