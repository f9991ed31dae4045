"""Phonetic track: transcript normalisation, the track model, alignment, recognition and fallback.

Speech comes from espeak-ng (made here, with espeak-ng's own word timing as an independent
reference) and from the real dev recordings in ../shared/speech (skipped when absent).

Tolerances, and what they were set against (bench/phonetic.py has the full numbers):
- word starts vs espeak-ng's word events: median |delta| <= 30 ms and >= 85% within 60 ms
  (measured on 10 sentences: median 8 ms, 90th percentile 30 ms);
- word boundaries vs an MFA TextGrid word tier: median |delta| <= 60 ms;
- lip closures: at least half of the aligned /p b m/ phones of espeak-ng speech, and three
  quarters of those of real speech, overlap a recognised /p b m/ within 50 ms;
- pauses: every espeak-ng pause of >= 80 ms between words is >= 50% silence in the alignment
  (measured: 45 of 45 over 5 voices x 3 texts; 40 of 45 before the energy check), and a nasal
  after a pause starts within 30 ms of espeak-ng's (measured 0-10 ms; 80-90 ms before).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmface_studio.audio.phonetic import (
    PHONE_SET,
    SCHEMA,
    SILENCE,
    AlignmentError,
    Phone,
    PhoneticTrack,
    Word,
    align_transcript,
    analyse_speech,
    recognize_phones,
    tidy_phones,
)
from mmface_studio.audio.phonetic_text import (
    letter_to_sound,
    normalise_transcript,
    number_to_words,
    ordinal_to_words,
    pronounce,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DEV = SHARED / "speech" / "dev"
BILABIAL = {"P", "B", "M"}
PAD_S = 0.3

needs_pocketsphinx = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("pocketsphinx"), reason="pocketsphinx is not installed"
)


# --------------------------------------------------------------------------------------------
# helpers


def _espeak(text: str) -> tuple[np.ndarray, list[float | None] | None]:
    """espeak-ng speech padded with 0.3 s of digital silence, and word starts when known.

    The library gives word timing; without it, the command line gives audio only.
    """
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if espeak_available():
        speech = synthesize(text)
        audio, starts = speech.audio16k, [None if w.start is None else w.start + PAD_S for w in speech.words]
    elif shutil.which("espeak-ng"):
        import tempfile

        import soundfile as sf
        from scipy.signal import resample_poly

        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
            raw, rate = sf.read(wav, dtype="float32")
        audio, starts = resample_poly(raw, 16000, rate).astype(np.float32), None
    else:
        pytest.skip("espeak-ng is not installed")
    pad = np.zeros(int(PAD_S * 16000), np.float32)
    return np.concatenate([pad, audio, pad]), starts


def _dev_clip(clip_id: str) -> tuple[np.ndarray, str]:
    if not (DEV / "clips.tsv").exists():
        pytest.skip(f"the shared dev recordings are absent ({DEV})")
    import csv

    import soundfile as sf

    rows = {r["id"]: r for r in csv.DictReader((DEV / "clips.tsv").open(), delimiter="\t")}
    audio, rate = sf.read(DEV / rows[clip_id]["wav16k"], dtype="float32")
    assert rate == 16000
    return audio, rows[clip_id]["transcript"]


def _speech_span(audio: np.ndarray) -> tuple[float, float]:
    """Start of the first and end of the last 10 ms frame clearly above the noise floor.

    "Clearly": 12 dB above the 10th-percentile frame and within 35 dB of the loudest one (the
    first rule matters for noisy recordings, the second for digital silence).
    """
    n = len(audio) // 160
    energy = 10 * np.log10(np.mean(audio[: n * 160].reshape(n, 160) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(energy > max(np.percentile(energy, 10) + 12, energy.max() - 35))[0]
    return loud[0] / 100, (loud[-1] + 1) / 100


def _assert_words_in_order(track: PhoneticTrack, transcript: str) -> None:
    assert track.mode == "alignment" and track.fallback_reason is None
    assert [w.text for w in track.words] == normalise_transcript(transcript)
    for a, b in zip(track.words, track.words[1:], strict=False):
        assert a.start < a.end <= b.start + 1e-9 < b.end
    track.validate()


def _closures_found(reference: PhoneticTrack, recognised: PhoneticTrack, slack: float = 0.05) -> tuple[int, int]:
    wanted = [p for p in reference.phones if p.label in BILABIAL]
    found = [p for p in recognised.phones if p.label in BILABIAL]
    hits = sum(any(f.start < w.end + slack and f.end > w.start - slack for f in found) for w in wanted)
    return hits, len(wanted)


# --------------------------------------------------------------------------------------------
# transcript normalisation and pronunciations (no decoder needed)


def test_numbers_symbols_and_punctuation_become_spoken_words() -> None:
    words = normalise_transcript('He paid $5.50 -- 12.5% of 2,500 -- on the 21st of May, 1999 & "left"!')
    assert words == [
        "he",
        "paid",
        "five",
        "dollars",
        "fifty",
        "twelve",
        "point",
        "five",
        "percent",
        "of",
        "two",
        "thousand",
        "five",
        "hundred",
        "on",
        "the",
        "twenty",
        "first",
        "of",
        "may",
        "nineteen",
        "ninety",
        "nine",
        "and",
        "left",
    ]
    assert number_to_words(1_000_017) == ["one", "million", "seventeen"]
    assert ordinal_to_words(40) == ["fortieth"] and ordinal_to_words(12) == ["twelfth"]
    assert normalise_transcript("007") == ["zero", "zero", "seven"]


def test_hyphens_and_dots_are_kept_only_where_the_dictionary_has_the_form() -> None:
    known = {"x-ray": "EH K S R EY", "mr.": "M IH S T ER"}.get
    assert normalise_transcript("Mr. Jones's X-ray, well-known.", known) == ["mr.", "jones's", "x-ray", "well", "known"]
    assert normalise_transcript("Mr. X-ray") == ["mr", "x", "ray"]


def test_pronunciations_fall_back_from_dictionary_to_rules() -> None:
    lexicon = {"fire": "F AY ER", "fox": "F AA K S", "wizard": "W IH Z ER D", "bus": "B AH S"}
    assert pronounce("wizard's", lexicon.get).phones == "W IH Z ER D Z"
    assert pronounce("bus's", lexicon.get).phones == "B AH S IH Z"
    compound = pronounce("firefox", lexicon.get)
    assert (compound.source, compound.phones) == ("compound", "F AY ER F AA K S")
    guessed = pronounce("zorblat", lexicon.get)
    assert guessed.source == "letter-to-sound" and guessed.phones.split()[0] == "Z"
    assert letter_to_sound("tv") == "T IY V IY"  # no vowel letter: spelled out


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x24F), max_size=20))
@settings(max_examples=200, deadline=None)
def test_letter_to_sound_always_gives_model_phones(word: str) -> None:
    phones = letter_to_sound(word).split()
    assert phones and set(phones) <= PHONE_SET - {SILENCE}


# --------------------------------------------------------------------------------------------
# the track model


def _sample_track() -> PhoneticTrack:
    return PhoneticTrack(
        phones=(Phone("SIL", 0.0, 0.2), Phone("HH", 0.2, 0.3, 0), Phone("AY", 0.3, 0.5, 0), Phone("SIL", 0.5, 0.61)),
        words=(Word("hi", 0.2, 0.5),),
        mode="alignment",
        duration=0.61,
        notes=("a note",),
    )


def test_track_round_trips_through_json() -> None:
    track = _sample_track()
    track.validate()
    data = json.loads(json.dumps(track.to_dict()))
    assert data["schema"] == SCHEMA
    assert PhoneticTrack.from_dict(data) == track


def test_from_dict_rejects_other_schemas_and_broken_tracks() -> None:
    data = _sample_track().to_dict()
    with pytest.raises(ValueError, match="schema"):
        PhoneticTrack.from_dict({**data, "schema": "something/9"})
    gap = {**data, "phones": [data["phones"][0], *data["phones"][2:]]}
    with pytest.raises(ValueError, match="does not start where"):
        PhoneticTrack.from_dict(gap)
    with pytest.raises(ValueError, match="unknown label"):
        PhoneticTrack.from_dict({**data, "phones": [{**data["phones"][0], "label": "AA1"}, *data["phones"][1:]]})
    with pytest.raises(ValueError, match="mode"):
        PhoneticTrack.from_dict({**data, "mode": "guess"})


def test_labels_at_reads_silence_outside_the_clip() -> None:
    assert _sample_track().labels_at([-1, 0.0, 0.25, 0.3, 0.6, 0.61, 9]) == [
        "SIL",
        "SIL",
        "HH",
        "AY",
        "SIL",
        "SIL",
        "SIL",
    ]


_raw_phone = st.tuples(st.sampled_from(["AA", "P", "SIL", "M"]), st.floats(-0.5, 3.0), st.floats(0.0, 1.0))


@given(st.lists(_raw_phone, max_size=30), st.floats(0.0, 3.0))
@settings(max_examples=300, deadline=None)
def test_tidy_phones_always_gives_a_contiguous_positive_cover(raw, duration: float) -> None:
    phones = [Phone(label, start, start + length) for label, start, length in raw]
    tidy = tidy_phones(phones, duration)
    PhoneticTrack(tidy, (), "recognition", duration).validate()
    assert all(a.label != SILENCE or b.label != SILENCE for a, b in zip(tidy, tidy[1:], strict=False))


# --------------------------------------------------------------------------------------------
# pause boundaries checked against the signal (no decoder needed)


def _tone_audio(levels: list[tuple[float, float, float]], duration: float, floor_db: float = -90.0) -> np.ndarray:
    """16 kHz audio: a 200 Hz + 1 kHz tone at ``db`` over each (start, end, db), noise elsewhere."""
    t = np.arange(int(duration * 16000)) / 16000
    rng = np.random.default_rng(1)
    audio = rng.normal(0.0, 10 ** (floor_db / 20), t.size)
    for start, end, db in levels:
        inside = (t >= start) & (t < end)
        audio[inside] += 10 ** (db / 20) * np.sqrt(2) * 0.5 * (np.sin(2 * np.pi * 200 * t[inside])
                                                              + np.sin(2 * np.pi * 1000 * t[inside]))
    return audio.astype(np.float32)


def test_a_pause_inside_a_phone_becomes_silence_but_a_stop_keeps_its_closure() -> None:
    from mmface_studio.audio.phonetic_refine import refine_phones

    # Speech 0.2-0.5 s and 0.65-1.0 s; the aligner gave the pause to the /ae/ after it, and a
    # /p/ holds 80 ms of silent closure, as stops do.
    audio = _tone_audio([(0.2, 0.5, -15.0), (0.65, 0.9, -15.0), (0.98, 1.2, -15.0)], 1.5)
    phones = [Phone("SIL", 0.0, 0.2), Phone("K", 0.2, 0.5, 0), Phone("AE", 0.5, 0.75, 1),
              Phone("N", 0.75, 0.9, 1), Phone("P", 0.9, 0.98, 2), Phone("AH", 0.98, 1.2, 2), Phone("SIL", 1.2, 1.5)]
    out = refine_phones(phones, audio)
    assert [(p.label, round(p.start, 2), round(p.end, 2)) for p in out] == [
        ("SIL", 0.0, 0.2), ("K", 0.2, 0.5), ("SIL", 0.5, 0.65), ("AE", 0.65, 0.75), ("N", 0.75, 0.9),
        ("P", 0.9, 0.98), ("AH", 0.98, 1.2), ("SIL", 1.2, 1.5)]


def test_a_pause_that_swallowed_a_nasal_murmur_gives_it_back() -> None:
    from mmface_studio.audio.phonetic_refine import refine_phones

    # Murmur (-32 dB) from 0.62 s, vowel from 0.7 s; the aligner started the /m/ at 0.7 s.
    audio = _tone_audio([(0.62, 0.7, -32.0), (0.7, 1.0, -15.0)], 1.3)
    phones = [Phone("SIL", 0.0, 0.7), Phone("M", 0.7, 0.74, 0), Phone("EY", 0.74, 1.0, 0), Phone("SIL", 1.0, 1.3)]
    out = refine_phones(phones, audio)
    assert [(p.label, round(p.start, 2)) for p in out] == [("SIL", 0.0), ("M", 0.62), ("EY", 0.74), ("SIL", 1.0)]


def test_pause_checks_leave_noisy_recordings_alone() -> None:
    from mmface_studio.audio.phonetic_refine import refine_phones

    # The "pause" is only 20 dB below the speech: not clearly silence, so nothing moves.
    audio = _tone_audio([(0.2, 0.5, -15.0), (0.65, 1.0, -15.0)], 1.3, floor_db=-35.0)
    phones = [Phone("SIL", 0.0, 0.2), Phone("K", 0.2, 0.5, 0), Phone("AE", 0.5, 0.75, 1), Phone("N", 0.75, 1.0, 1),
              Phone("SIL", 1.0, 1.3)]
    assert refine_phones(phones, audio) == phones


# --------------------------------------------------------------------------------------------
# decoding espeak-ng speech


@needs_pocketsphinx
def test_alignment_gives_the_words_in_order_covering_the_speech() -> None:
    """Digital-silence padding included: it used to make the aligner give up."""
    text = "Peter picked a peck of pickled peppers, then he went home."
    audio, _ = _espeak(text)
    track = align_transcript(audio, text)
    _assert_words_in_order(track, text)
    onset, offset = _speech_span(audio)
    assert abs(track.words[0].start - onset) <= 0.1
    assert abs(track.words[-1].end - offset) <= 0.15
    assert track.phones[0].label == SILENCE and track.phones[-1].label == SILENCE
    assert track.duration == pytest.approx(len(audio) / 16000)
    assert all(p.word is not None for p in track.phones if p.label != SILENCE)


@needs_pocketsphinx
def test_word_starts_match_espeak_timing() -> None:
    errors = []
    for text in (
        "My mother made a big bowl of warm soup for everybody.",
        "Please remember to bring the map when we meet by the bridge.",
        "Bob bought a blue bike, and Pam paid for it.",
    ):
        audio, starts = _espeak(text)
        if starts is None:
            pytest.skip("the espeak-ng library (for word timing) is not loadable")
        track = align_transcript(audio, text)
        errors += [abs(w.start - s) for w, s in zip(track.words, starts, strict=True) if s is not None]
    errors_ms = 1000 * np.array(errors)
    assert np.median(errors_ms) <= 30, errors_ms
    assert np.mean(errors_ms <= 60) >= 0.85, errors_ms


def _synth_padded(text: str, voice: str, wpm: int):
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if not espeak_available():
        pytest.skip("the espeak-ng library (for phoneme timing) is not loadable")
    speech = synthesize(text, voice, wpm)
    pad = np.zeros(int(PAD_S * 16000), np.float32)
    return np.concatenate([pad, speech.audio16k, pad]), speech


def test_espeak_synthesis_does_not_depend_on_what_was_synthesised_before() -> None:
    """The library keeps state between syntheses (the same text came out up to 40 ms longer on a
    second call); each synthesis now runs in a fresh process."""
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if not espeak_available():
        pytest.skip("the espeak-ng library is not loadable")
    text = "Bob bought a blue bike, and Pam paid for it."
    first = synthesize(text, "en-us", 175)
    synthesize("My mother made a big bowl of warm soup.", "en-gb-x-rp", 160)
    again = synthesize(text, "en-us", 175)
    assert np.array_equal(first.audio16k, again.audio16k)
    assert first.phones == again.phones and first.words == again.words
    with pytest.raises(ValueError, match="no voice"):
        synthesize(text, "xx-no-such-voice")


@needs_pocketsphinx
def test_decoding_does_not_depend_on_what_was_decoded_before() -> None:
    """pocketsphinx carries its cepstral mean from one utterance to the next, even in batch mode;
    the decoders' feature state is reset per call."""
    text_a, text_b = "Maybe the best plan is to wait.", "Five old women moved slowly through the room."
    audio_a, _ = _espeak(text_a)
    audio_b, _ = _espeak(text_b)
    first = (align_transcript(audio_a, text_a), recognize_phones(audio_a))
    align_transcript(audio_b, text_b)
    recognize_phones(audio_b)
    assert (align_transcript(audio_a, text_a), recognize_phones(audio_a)) == first


@needs_pocketsphinx
@pytest.mark.parametrize(("voice", "wpm"), [("en-us", 175), ("en-us+f3", 190), ("en-gb-scotland", 175)])
def test_pauses_between_words_are_silence_not_a_held_phone(voice: str, wpm: int) -> None:
    """In "bike, and" the comma pause (150 ms) used to become part of the /ae/ of "and" (en-us), and
    the pause after "afternoon." part of the /dh/ of "The" (en-gb-scotland): a mouth held open in
    silence. Every pause of >= 80 ms must be mostly silence."""
    text = ("Bob bought a blue bike, and Pam paid for it. We were watching the rain from the window all "
            "afternoon. The quick brown fox jumps over the lazy dog.")
    audio, speech = _synth_padded(text, voice, wpm)
    track = align_transcript(audio, text)
    phones = speech.phones
    pauses = [(p.start + PAD_S, phones[k + 1].start + PAD_S) for k, p in enumerate(phones[:-2])
              if p.symbol.startswith("_") and phones[k + 1].start - p.start >= 0.08]
    assert len(pauses) >= 3
    for a, b in pauses:
        silent = sum(max(0.0, min(b, q.end) - max(a, q.start)) for q in track.phones if q.label == SILENCE)
        around = [(q.label, q.start, q.end) for q in track.phones if q.end > a and q.start < b]
        assert silent >= 0.5 * (b - a), (a, b, around)


@needs_pocketsphinx
@pytest.mark.parametrize(("voice", "wpm"), [("en-us", 175), ("en-gb-x-rp", 160)])
def test_a_nasal_after_a_sentence_pause_starts_on_time(voice: str, wpm: int) -> None:
    """The /m/ of "Maybe" after a full stop: its murmur was labelled silence and the /m/ started
    80-90 ms late, so the lips were still apart where they should have closed."""
    text = "Five old women moved slowly. Maybe the best plan is to wait."
    audio, speech = _synth_padded(text, voice, wpm)
    track = align_transcript(audio, text)
    truth = next(p.start for k, p in enumerate(speech.phones) if p.symbol == "m" and speech.phones[k - 1].symbol == "_")
    maybe = next(w for w in track.words if w.text == "maybe")
    first = next(p for p in track.phones if p.start >= maybe.start - 1e-9)
    assert first.label == "M" and abs(first.start - (truth + PAD_S)) <= 0.03, (first, truth + PAD_S)


@needs_pocketsphinx
def test_a_wrong_transcript_falls_back_to_recognition_with_a_reason() -> None:
    audio, _ = _espeak("The quick brown fox jumps over the lazy dog.")
    track = analyse_speech(audio, "She sells sea shells by the sea shore every summer.")
    assert track.mode == "recognition"
    assert track.fallback_reason and "transcript" in track.fallback_reason and "recognition" in track.fallback_reason
    track.validate()
    with pytest.raises(AlignmentError):
        align_transcript(audio, "She sells sea shells by the sea shore every summer " * 8)


@needs_pocketsphinx
def test_out_of_vocabulary_words_are_guessed_and_reported() -> None:
    text = "The zorblat quickly bought blue glorptastic shoes."
    audio, _ = _espeak(text)
    track = analyse_speech(audio, text)
    _assert_words_in_order(track, text)
    assert any('"zorblat"' in note and "letter-to-sound" in note for note in track.notes)
    assert any('"glorptastic"' in note for note in track.notes)
    assert analyse_speech(audio, text) == track  # the guesses added to the dictionary stay guesses


@needs_pocketsphinx
def test_recognition_finds_lip_closures_in_espeak_speech() -> None:
    hits = total = 0
    for text in (
        "Peter picked a peck of pickled peppers, then he went home.",
        "Bob bought a blue bike, and Pam paid for it.",
    ):
        audio, _ = _espeak(text)
        recognised = analyse_speech(audio)
        assert recognised.mode == "recognition" and recognised.fallback_reason is None
        recognised.validate()
        h, n = _closures_found(align_transcript(audio, text), recognised)
        hits, total = hits + h, total + n
    assert total >= 10 and hits / total >= 0.5, (hits, total)


@needs_pocketsphinx
def test_degenerate_inputs_give_valid_tracks() -> None:
    for audio in (np.zeros(0, np.float32), np.zeros(800, np.float32), np.zeros(16000, np.float32)):
        track = analyse_speech(audio, "hello world")
        track.validate()
        assert track.mode == "recognition" and track.fallback_reason
        assert all(p.label == SILENCE for p in track.phones)
    speech, _ = _espeak("Hello there.")
    blank = analyse_speech(speech, "  \n ")  # no transcript at all: plain recognition
    assert blank.mode == "recognition" and blank.fallback_reason is None
    punctuation_only = analyse_speech(speech, " ... ?! -- ")
    assert punctuation_only.mode == "recognition" and "no words" in punctuation_only.fallback_reason
    with pytest.raises(ValueError):
        recognize_phones(speech, method="telepathy")


@needs_pocketsphinx
def test_results_are_deterministic_and_decoders_are_thread_safe() -> None:
    audio, _ = _espeak("We were watching the rain from the window.")
    text = "We were watching the rain from the window."
    serial = (analyse_speech(audio, text), recognize_phones(audio))
    results: list[tuple[PhoneticTrack, PhoneticTrack]] = []

    def work() -> None:
        results.append((analyse_speech(audio, text), recognize_phones(audio)))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [serial] * 3


# --------------------------------------------------------------------------------------------
# the real dev recordings


@needs_pocketsphinx
def test_real_speech_alignment_covers_the_speech() -> None:
    audio, transcript = _dev_clip("mfa_61_70968_0000")
    track = analyse_speech(audio, transcript)
    _assert_words_in_order(track, transcript)
    onset, offset = _speech_span(audio)
    assert abs(track.words[0].start - onset) <= 0.15
    assert abs(track.words[-1].end - offset) <= 0.15
    long_pause = [p for p in track.phones if p.label == SILENCE and 0.5 < p.start < 4.5 and p.duration >= 0.15]
    assert long_pause, "the pause after 'wizard' should be silence, not a held phone"


@needs_pocketsphinx
def test_word_boundaries_match_the_mfa_textgrid() -> None:
    from mmface_studio.audio.phonetic_textgrid import read_textgrid

    path = DEV / "mfa_61_70968_0000.TextGrid"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    tiers = read_textgrid(path.read_text())
    words = next((t for t in tiers if "word" in t.name.lower()), None)
    reference = [iv for iv in (words.intervals if words else ()) if iv.text.strip()]
    if len(reference) < 2:
        pytest.skip(
            f"{path.name} has no word-level tier (tiers: {[t.name for t in tiers]}, one interval "
            "holding the whole transcript): it is MFA's input, not an alignment"
        )
    audio, transcript = _dev_clip("mfa_61_70968_0000")
    track = align_transcript(audio, transcript)
    deltas = [
        abs(a - b)
        for w, iv in zip(track.words, reference, strict=True)
        for a, b in ((w.start, iv.start), (w.end, iv.end))
    ]
    assert np.median(deltas) <= 0.060


@needs_pocketsphinx
def test_real_speech_with_another_clips_transcript_falls_back() -> None:
    audio, _ = _dev_clip("ps_librivox_0930")
    _, other = _dev_clip("ps_librivox_0880")
    track = analyse_speech(audio, other)
    assert track.mode == "recognition" and "does not" in (track.fallback_reason or "")


@needs_pocketsphinx
def test_recognition_of_real_speech_finds_the_lip_closures() -> None:
    hits = total = 0
    for clip in ("ps_librivox_0880", "mfa_61_70968_0000"):
        audio, transcript = _dev_clip(clip)
        h, n = _closures_found(align_transcript(audio, transcript), recognize_phones(audio))
        hits, total = hits + h, total + n
    assert total >= 5 and hits / total >= 0.75, (hits, total)


@needs_pocketsphinx
def test_textgrid_export_reads_back_as_the_same_track() -> None:
    from mmface_studio.audio.phonetic_textgrid import track_from_textgrid, track_to_textgrid

    audio, transcript = _dev_clip("ps_goforward")
    track = align_transcript(audio, transcript)
    again = track_from_textgrid(track_to_textgrid(track), track.duration)
    assert again.phones == track.phones and again.words == track.words
