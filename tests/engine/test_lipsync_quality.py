"""Lip-sync quality measured on the built-in head's lips: the issue's "done means".

Speech in, performance out through the real pipeline (audio layer, pocketsphinx, classic engine),
then measured on the mesh (``mmface_studio.engine.metrics``; thresholds and their reasons are
in its docstring):

- closure: the lips meet (gap <= 1.2 mm) in >= 95% of /p b m/ intervals. For espeak-ng speech
  the intervals are espeak-ng's own (from its phoneme events and audio; independent of
  pocketsphinx); for real recordings there is no independent truth, so they are the engine's
  own aligned phones, which checks the lip-sync but not the phone timing;
- opening vs energy: Pearson r >= 0.6 between the lip gap and the audio energy in the speech band
  (500-4000 Hz, ``metrics.speech_band_energy_db``), on the frames outside the /p b m/ closures (a
  voiced /m/ or /b/ is loud with the lips shut by physics; the closure test covers those frames).
  The all-frames r is in the failure message and in ``bench/lipsync_eval.py``;
- jitter: mean |second difference| of jawOpen <= 0.06 per frame at 30 fps (the engine tests'
  bound), and of the lip gap <= the same bound times the rig's lip travel per unit jawOpen;
- emotion: the projection on an emotion's direction rises with its intensity and the lips still
  close.

Known failures are marked xfail with what was measured and whose they are (see the reasons).
Everything here is reproducible: espeak-ng synthesises each text in a fresh process and
pocketsphinx resets its feature state per call, so no result depends on what ran before.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.core.performance import Performance
from mmface_studio.engine import EMOTIONS, Analysis, EmotionTrack, GenerationRequest, Pipeline
from mmface_studio.engine import metrics as m

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "speech" / "dev"
PAD_S = 0.3
#: Rich in /p b m/ (14 closures per voice), /f v/ and /uw ow w/, otherwise ordinary English.
TEXT = ("We were watching the rain from the window all afternoon. The quick brown fox jumps over the lazy dog. "
        "Maybe the best plan is to wait until the museum opens. Five old women moved slowly through the room.")
#: (espeak-ng voice, words per minute): American and British RP male, and a female variant, at three rates.
VOICES = (("en-us", 175), ("en-gb-x-rp", 160), ("en-us+f3", 190))
MODES = ("alignment", "recognition")
#: A handful of the real dev clips with /p b m/ (pocketsphinx costs ~0.5 s per clip and mode).
CLIPS = ("ps_librivox_0880", "ps_librivox_0920", "mfa_61_70968_0000", "ps_cards_002", "ps_goforward")

needs_speech_tools = pytest.mark.skipif(
    importlib.util.find_spec("pocketsphinx") is None, reason="pocketsphinx is not installed")

RECOGNITION_MISSES_BILABIALS = pytest.mark.xfail(
    strict=True,
    reason="phonetic layer, not lip-sync: pocketsphinx word recognition misreads espeak-ng voices (en-us+f3 heard "
           "'the clink on fox', 'the main from that'), so true /p b m/ get other phones or silence: 9, 10 and 5 of "
           "14 true closures close (en-us, en-gb-x-rp, en-us+f3; 45% of 185 over bench/lipsync_eval.py's 5 voices x "
           "2 texts), while the lips close on 100% of the /p b m/ the engine is given (test_..._own_bilabials). "
           "Adding pocketsphinx's phone loop or re-deciding consonants' place of articulation raised that to 54-60% "
           "but cost 4-10 points of precision on real speech, so it was not adopted")


@dataclass
class Take:
    """One generated performance with what it is measured against."""

    performance: Performance
    analysis: Analysis
    gaps: np.ndarray
    closures: list[tuple[str, float, float]]  # the /p b m/ intervals the closure test uses
    truth_is_independent: bool
    band_db: np.ndarray  # speech-band energy at 100 Hz (metrics.speech_band_energy_db)


@pytest.fixture(scope="module")
def rig():
    from mmface_studio.rig.default_head import load_default_head

    return load_default_head()


@pytest.fixture(scope="module")
def espeak_speech() -> dict[str, tuple[np.ndarray, list[tuple[str, float, float]]]]:
    """Per voice: padded 16 kHz audio and espeak-ng's true /p b m/ closure intervals."""
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if not espeak_available():
        pytest.skip("the espeak-ng library is not available")
    out = {}
    pad = np.zeros(int(PAD_S * 16000), np.float32)
    for voice, wpm in VOICES:
        speech = synthesize(TEXT, voice, wpm)
        out[voice] = (np.concatenate([pad, speech.audio16k, pad]),
                      m.espeak_bilabial_intervals(speech.phones, speech.audio16k, offset=PAD_S))
    return out


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    return {}


@pytest.fixture(scope="module")
def espeak_takes(rig, espeak_speech, pipelines) -> dict[tuple[str, str], Take]:
    takes = {}
    for voice, _ in VOICES:
        audio, truth = espeak_speech[voice]
        pipeline = pipelines.setdefault(voice, Pipeline())
        for mode in MODES:
            request = GenerationRequest(audio=audio, transcript=TEXT if mode == "alignment" else None)
            perf = pipeline.run(request)
            analysis = pipeline.last_analysis
            assert analysis.mode == mode, analysis.fallback_reason
            takes[voice, mode] = Take(perf, analysis, m.lip_gap(rig, perf), truth, True, m.speech_band_energy_db(audio))
    return takes


def _clip_rows() -> dict[str, dict[str, str]]:
    if not (DEV / "clips.tsv").exists():
        pytest.skip(f"needs the shared dev recordings ({DEV} is absent)")
    return {r["id"]: r for r in csv.DictReader((DEV / "clips.tsv").open(), delimiter="\t")}


@pytest.fixture(scope="module")
def clip_takes(rig) -> dict[tuple[str, str], Take]:
    import soundfile as sf

    rows = _clip_rows()
    takes = {}
    for clip in CLIPS:
        pipeline = Pipeline()
        band_db = m.speech_band_energy_db(sf.read(DEV / rows[clip]["wav16k"], dtype="float32")[0])
        for mode in MODES:
            transcript = rows[clip]["transcript"] if mode == "alignment" else None
            perf = pipeline.run(GenerationRequest(audio=str(DEV / rows[clip]["wav16k"]), transcript=transcript))
            analysis = pipeline.last_analysis
            own = [(p.label, p.start, p.end) for p in analysis.phones if p.label in m.BILABIALS]
            takes[clip, mode] = Take(perf, analysis, m.lip_gap(rig, perf), own, False, band_db)
    return takes


def _failures(gaps: np.ndarray, closures: list[tuple[str, float, float]], fps: float) -> list[str]:
    return [f"{g.label} {g.start:.3f}-{g.end:.3f}s gap {g.min_gap * 1e3:.2f} mm"
            for g in m.interval_gaps(gaps, closures, fps) if g.min_gap > m.CLOSURE_THRESHOLD_M]


def _check_closure(take: Take) -> None:
    fps = take.performance.fps
    rate = m.closure_rate(take.gaps, take.closures, fps)
    assert len(take.closures) >= (10 if take.truth_is_independent else 1)
    assert rate >= m.CLOSURE_RATE_MIN, (rate, _failures(take.gaps, take.closures, fps))


def _check_correlation(take: Take) -> None:
    perf = take.performance
    keep = ~m.interval_frames(take.closures, perf.frame_count, perf.fps)
    r_open = m.opening_energy_correlation(take.gaps, take.band_db, perf.fps, keep=keep)
    r_all = m.opening_energy_correlation(take.gaps, take.band_db, perf.fps)
    assert r_open >= m.CORRELATION_MIN, {"r_outside_closures": round(r_open, 3), "r_all_frames": round(r_all, 3)}


def _check_jitter(rig, take: Take) -> None:
    fps = take.performance.fps
    jaw = m.jitter(take.performance.curve("jawOpen"))
    gap = m.jitter(take.gaps)
    assert jaw <= m.jitter_threshold(fps), jaw
    assert gap <= m.jitter_threshold(fps, m.jaw_lip_travel(rig)), gap


def _espeak_cases(xfails: dict[tuple[str, str], pytest.MarkDecorator]) -> list:
    return [pytest.param(v, mode, id=f"{v}-{mode}", marks=[xfails[v, mode]] if (v, mode) in xfails else [])
            for v, _ in VOICES for mode in MODES]


# --- the metric itself ---------------------------------------------------------------------------------------


def test_lips_are_found_and_the_threshold_separates_closed_from_open_shapes(rig) -> None:
    marks = m.lip_landmarks(rig)
    assert marks is m.lip_landmarks(rig)  # cached per rig
    assert len(marks.column_x) >= 3 and np.abs(marks.column_x).max() < 0.008
    info = m.describe_thresholds(rig)["rig"]
    assert 0.0 < info["rest_gap_mm"] < 0.8  # the built-in head's small slit
    assert info["lip_travel_per_jawOpen_mm"] > 20.0
    # The engine's bilabial bounds all at once still read as closed; /f v/, /s/, /t/ do not.
    assert info["gap_at_bilabial_bounds_mm"] < 1e3 * m.CLOSURE_THRESHOLD_M < info["gap_fv_target_mm"]
    assert info["gap_fv_target_mm"] < info["gap_sz_target_mm"] < info["gap_tdn_target_mm"]


def test_gap_fast_path_matches_full_deformation_and_ignores_head_pose(rig) -> None:
    rng = np.random.default_rng(0)
    values = np.zeros((len(rig.space), 6), np.float32)
    values[:52] = rng.uniform(0.0, 0.6, (52, 6))
    marks = m.lip_landmarks(rig)
    fast = m.landmark_y(rig, values, marks.vertices)
    full = np.stack([rig.deform(values[:, f])[marks.vertices, 1] for f in range(6)])
    assert np.allclose(fast, full, atol=1e-6)
    posed = values.copy()
    posed[rig.space.index["HeadPitch"]] = 0.3
    posed[rig.space.index["HeadYaw"]] = -0.4
    assert np.allclose(m.lip_gap(rig, posed), m.lip_gap(rig, values), atol=1e-7)


def test_closure_rate_uses_the_nearest_frame_for_short_intervals() -> None:
    gaps = np.full(30, 5e-3)
    gaps[10] = 0.0
    assert m.closure_rate(gaps, [("P", 10.2 / 30, 10.4 / 30)], 30.0) == 1.0  # no frame inside: nearest is 10
    assert m.closure_rate(gaps, [("B", 12 / 30, 15 / 30), ("M", 9 / 30, 11 / 30)], 30.0) == 0.5
    assert np.isnan(m.closure_rate(gaps, [("T", 0.0, 0.5)], 30.0))


def test_espeak_closure_intervals_cover_the_silent_closure_of_p_and_end_at_release() -> None:
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if not espeak_available():
        pytest.skip("the espeak-ng library is not available")
    speech = synthesize("a pa, a ba, a ma.", "en-us")
    intervals = m.espeak_bilabial_intervals(speech.phones, speech.audio16k)
    assert [label for label, _, _ in intervals] == ["P", "B", "M"]
    events = {p.symbol: p.start for p in speech.phones if p.symbol in ("p", "b", "m")}
    audio = speech.audio16k
    for label, start, end in intervals:
        assert 0.03 <= end - start <= 0.15, (label, start, end)
        if label == "P":  # ends at the burst (the event), and the closure before it is (near) silent
            assert end == pytest.approx(events["p"])
            seg = audio[int((start + 0.005) * 16000):int((end - 0.005) * 16000)]
            assert 20 * np.log10(np.sqrt(np.mean(seg ** 2)) + 1e-9) < 20 * np.log10(np.abs(audio).max()) - 30
        else:  # starts at the event, ends at the release before the next event
            assert start == pytest.approx(events[label.lower()]) and end > start


@pytest.mark.parametrize("vowel_s", [0.06, 0.08])
def test_a_short_vowel_between_bilabials_opens_the_lips(rig, vowel_s: float) -> None:
    from tests.engine import speech

    analysis = speech([("AH", 0.15), ("M", 0.07), ("EY", vowel_s), ("B", 0.06), ("IY", 0.15)])
    perf = Pipeline().run(GenerationRequest(), analysis=analysis)
    gaps = m.lip_gap(rig, perf)
    ey = next(p for p in analysis.phones if p.label == "EY")
    assert gaps[m.frames_in(ey.start, ey.end, perf.fps, gaps.size)].max() >= 2.5 * m.CLOSURE_THRESHOLD_M


@pytest.mark.parametrize(("vowel_s", "least_mm"), [(0.06, 1.2), (0.08, 3.0), (0.1, 4.0)])
def test_short_vowels_between_bilabials_open_at_every_frame_phase(rig, vowel_s: float, least_mm: float) -> None:
    """Where the 30 fps frames fall inside the vowel matters: a 60 ms vowel has one or two frames,
    each 5-30 ms from a closure. At the worst phase it must still visibly part the lips (measured over
    both sequences: 60 ms 1.4-4.1 mm, 80 ms 3.9-5.1 mm, 100 ms 5.0-5.8 mm; a lone /ey/ opens 6.8 mm)."""
    from tests.engine import speech

    worst = np.inf
    for lead in np.linspace(0.3, 0.3 + 1 / 30, 8, endpoint=False):
        for seq in ([("M", 0.07), ("EY", vowel_s), ("B", 0.06)], [("P", 0.08), ("AH", vowel_s), ("M", 0.08)]):
            analysis = speech([("AH", 0.15), *seq, ("IY", 0.15)], lead=lead)
            perf = Pipeline().run(GenerationRequest(), analysis=analysis)
            gaps = m.lip_gap(rig, perf)
            vowel = analysis.phones[3]
            worst = min(worst, gaps[m.frames_in(vowel.start, vowel.end, perf.fps, gaps.size)].max())
            bilabials = [p for p in analysis.phones if p.label in m.BILABIALS]
            assert m.closure_rate(gaps, bilabials, perf.fps) == 1.0
    assert worst * 1e3 >= least_mm, worst * 1e3


# --- espeak-ng speech: independent truth ---------------------------------------------------------------------


@needs_speech_tools
@pytest.mark.parametrize(("voice", "mode"), _espeak_cases({(v, "recognition"): RECOGNITION_MISSES_BILABIALS
                                                           for v, _ in VOICES}))
def test_lips_close_in_every_true_bilabial(espeak_takes, voice: str, mode: str) -> None:
    _check_closure(espeak_takes[voice, mode])


@needs_speech_tools
@pytest.mark.parametrize(("voice", "mode"), _espeak_cases({}))
def test_lips_close_on_the_engines_own_bilabials(espeak_takes, voice: str, mode: str) -> None:
    take = espeak_takes[voice, mode]
    own = [(p.label, p.start, p.end) for p in take.analysis.phones if p.label in m.BILABIALS]
    assert own and m.closure_rate(take.gaps, own, take.performance.fps) == 1.0


@needs_speech_tools
@pytest.mark.parametrize(("voice", "mode"), _espeak_cases({}))
def test_mouth_opening_follows_energy(espeak_takes, voice: str, mode: str) -> None:
    _check_correlation(espeak_takes[voice, mode])


@needs_speech_tools
@pytest.mark.parametrize(("voice", "mode"), _espeak_cases({}))
def test_no_chatter(rig, espeak_takes, voice: str, mode: str) -> None:
    _check_jitter(rig, espeak_takes[voice, mode])


@needs_speech_tools
def test_the_correlation_catches_a_mouth_out_of_sync(espeak_takes) -> None:
    take = espeak_takes["en-us", "alignment"]
    late = np.roll(take.gaps, int(round(0.2 * take.performance.fps)))  # 200 ms late
    assert m.opening_energy_correlation(take.gaps, take.band_db, take.performance.fps) >= 0.5
    assert m.opening_energy_correlation(late, take.band_db, take.performance.fps) < 0.3
    # The broadband energy, which the speech band replaced, catches it too.
    assert m.opening_energy_correlation(late, take.analysis.energy_db, take.performance.fps) < 0.3


INTENSITIES = (0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def emotion_takes(espeak_speech, espeak_takes, pipelines) -> dict[str, list[Performance]]:
    """Constant tracks at 0.5 / 0.75 / 1.0 on the warm en-us pipeline (only the emotion stage re-runs)."""
    audio, _ = espeak_speech["en-us"]
    pipeline = pipelines["en-us"]
    request = GenerationRequest(audio=audio, transcript=TEXT)
    out = {e: [pipeline.run(dataclasses.replace(request, emotion=EmotionTrack.constant(**{e: g})))
               for g in INTENSITIES] for e in EMOTIONS[1:]}
    assert pipeline.stage_runs["analysis"] == len(MODES) and pipeline.stage_runs["lipsync"] == len(MODES)
    return out


@needs_speech_tools
@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_emotion_rises_with_intensity(emotion_takes, emotion: str) -> None:
    """The projection on the emotion's direction rises with intensity: on average, and on every frame
    where neither take blinks (a blink shuts the eyes, so eyeWide goes to 0 under it, and the blink
    timing itself depends on the emotion)."""
    takes = emotion_takes[emotion]
    proj = [m.emotion_projection(p, emotion) for p in takes]
    blinks = [np.maximum(p.curve("eyeBlinkLeft"), p.curve("eyeBlinkRight")) > 0.05 for p in takes]
    assert proj[0].mean() < proj[1].mean() < proj[2].mean()
    for a, b in ((0, 1), (1, 2)):
        calm = ~(blinks[a] | blinks[b])
        assert np.all(proj[b][calm] >= proj[a][calm] - 1e-5), np.flatnonzero(calm & (proj[b] < proj[a] - 1e-5))


@needs_speech_tools
@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_emotion_keeps_the_lips_sealed_on_the_engines_own_bilabials(rig, emotion_takes, espeak_takes,
                                                                    emotion: str) -> None:
    own = [(p.label, p.start, p.end) for p in espeak_takes["en-us", "alignment"].analysis.phones
           if p.label in m.BILABIALS]
    for perf in emotion_takes[emotion]:
        assert m.closure_rate(m.lip_gap(rig, perf), own, perf.fps) == 1.0


@needs_speech_tools
@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_emotion_keeps_the_true_closures(rig, espeak_speech, emotion_takes, emotion: str) -> None:
    _, truth = espeak_speech["en-us"]
    for gamma, perf in zip(INTENSITIES, emotion_takes[emotion], strict=True):
        gaps = m.lip_gap(rig, perf)
        assert m.closure_rate(gaps, truth, perf.fps) >= m.CLOSURE_RATE_MIN, (gamma, _failures(gaps, truth, perf.fps))


# --- real recordings: the engine's own phones (no independent truth) ----------------------------------------


def _clip_cases(xfails: dict[tuple[str, str], pytest.MarkDecorator]) -> list:
    return [pytest.param(c, mode, id=f"{c}-{mode}", marks=[xfails[c, mode]] if (c, mode) in xfails else [])
            for c in CLIPS for mode in MODES]


@needs_speech_tools
@pytest.mark.parametrize(("clip", "mode"), _clip_cases({}))
def test_real_speech_lips_close_on_the_aligned_bilabials(clip_takes, clip: str, mode: str) -> None:
    take = clip_takes[clip, mode]
    if not take.closures:
        pytest.skip(f"{mode} found no /p b m/ in {clip}")
    _check_closure(take)


@needs_speech_tools
@pytest.mark.parametrize(("clip", "mode"), _clip_cases({}))
def test_real_speech_mouth_opening_follows_energy(clip_takes, clip: str, mode: str) -> None:
    _check_correlation(clip_takes[clip, mode])


@needs_speech_tools
@pytest.mark.parametrize(("clip", "mode"), _clip_cases({}))
def test_real_speech_no_chatter(rig, clip_takes, clip: str, mode: str) -> None:
    _check_jitter(rig, clip_takes[clip, mode])
