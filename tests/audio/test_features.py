"""Frame features: shapes and rates, pitch accuracy and voicing, energy, and a real recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mmface_studio.audio import (
    ANALYSIS_RATE,
    AudioDataError,
    clip_from_array,
    compute_features,
    load_audio,
    mel_filterbank,
)

SR = ANALYSIS_RATE
SPEECH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "speech" / "dev"


def harmonic(f0: float | np.ndarray, seconds: float = 1.0, *, amp: float = 0.5, partials: int = 12) -> np.ndarray:
    """A voice-like harmonic complex; ``f0`` may be a per-sample contour."""
    n = int(SR * seconds)
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * phase + 0.7 * k) / k for k in range(1, partials + 1))
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def test_f0_of_a_200_hz_harmonic_tone() -> None:
    feats = compute_features(harmonic(200.0))
    assert feats.voiced[5:-5].all()
    assert np.median(feats.f0_hz[feats.voiced]) == pytest.approx(200.0, rel=0.03)
    assert np.all(np.abs(feats.f0_hz[5:-5] / 200.0 - 1.0) < 0.03)


@pytest.mark.parametrize("f0", [70.0, 110.0, 260.0, 420.0, 520.0])
def test_f0_across_the_voice_range(f0: float) -> None:
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.01
    feats = compute_features(harmonic(f0) + noise)
    inner = slice(5, -5)
    assert feats.voiced[inner].mean() > 0.95
    assert np.median(feats.f0_hz[inner]) == pytest.approx(f0, rel=0.03)


def test_f0_follows_an_intonation_contour() -> None:
    t = np.arange(2 * SR) / SR
    contour = 140.0 + 40.0 * np.sin(2 * np.pi * 0.8 * t)  # a lively sentence melody, up to 200 Hz/s
    feats = compute_features(harmonic(contour, 2.0))
    reference = 140.0 + 40.0 * np.sin(2 * np.pi * 0.8 * feats.times)
    v = feats.voiced
    assert v.mean() > 0.9
    assert np.percentile(np.abs(feats.f0_hz[v] / reference[v] - 1.0), 95) < 0.03


def test_silence_is_unvoiced_and_at_the_energy_floor() -> None:
    feats = compute_features(np.zeros(SR, np.float32))
    assert not feats.voiced.any()
    assert np.all(feats.f0_hz == 0.0)
    assert np.all(feats.energy_db <= -99.0)
    assert np.all(feats.periodicity < 0.01)
    assert np.isfinite(feats.mel).all()


def test_noise_and_mains_hum_are_unvoiced() -> None:
    rng = np.random.default_rng(1)
    noise = (0.2 * rng.standard_normal(SR)).astype(np.float32)
    assert compute_features(noise).voiced.mean() < 0.02
    t = np.arange(3 * SR) / SR
    hum = 0.01 * np.sin(2 * np.pi * 60 * t) + 0.003 * np.sin(2 * np.pi * 180 * t)
    speech = np.zeros_like(hum)
    speech[SR : 2 * SR] = harmonic(120.0)
    feats = compute_features((hum + speech).astype(np.float32))
    assert feats.voiced[110:190].mean() > 0.95  # the voice is found...
    assert feats.voiced[:90].mean() < 0.05 and feats.voiced[210:].mean() < 0.05  # ...the hum is not a voice


def test_mel_has_80_bins_at_100_frames_per_second() -> None:
    for seconds, frames in [(1.0, 100), (2.5, 250), (1.234, 124)]:
        feats = compute_features(harmonic(150.0, seconds))
        assert feats.mel.shape == (frames, 80)
        assert feats.mel.dtype == np.float32
        assert feats.energy_db.shape == feats.f0_hz.shape == feats.voiced.shape == (frames,)
        assert feats.fps == 100.0 and feats.n_frames == frames
    assert feats.times[0] == pytest.approx(0.005) and feats.times[1] - feats.times[0] == pytest.approx(0.01)


def test_mel_peak_follows_a_tone() -> None:
    t = np.arange(SR) / SR
    edges_hz = _filter_centres()
    for freq in (300.0, 1000.0, 4000.0):
        feats = compute_features((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32))
        peak = int(np.argmax(feats.mel[50]))
        assert abs(edges_hz[peak] - freq) <= 0.12 * freq


def _filter_centres() -> np.ndarray:
    fb = mel_filterbank()
    bins = np.linspace(0, SR / 2, fb.shape[0])
    return bins[np.argmax(fb, axis=0)]


def test_filterbank_is_slaney_shaped() -> None:
    fb = mel_filterbank()
    assert fb.shape == (201, 80) and fb.dtype == np.float32
    assert np.all(fb >= 0) and np.all(fb.sum(axis=0) > 0)  # no empty filter
    centres = _filter_centres()
    assert np.all(np.diff(centres) >= 0)
    assert np.allclose(np.diff(centres[:10]), np.diff(centres[:10]).mean(), atol=41)  # linear below 1 kHz
    assert not fb.flags.writeable


def test_energy_rises_during_a_tone_burst() -> None:
    x = np.zeros(int(1.5 * SR), np.float32)
    x[SR // 2 : SR] = harmonic(220.0, 0.5)
    feats = compute_features(x)
    assert feats.energy_db[55:95].min() > feats.energy_db[:40].max() + 60
    assert feats.energy_db[110:].max() < -90
    onset = int(np.argmax(feats.energy_db > -40))
    assert abs(onset - 50) <= 2
    burst = feats.energy_db[60:90]
    assert np.mean(burst) == pytest.approx(20 * np.log10(np.sqrt(np.mean(x[SR // 2 : SR] ** 2))), abs=1.0)


def test_clip_and_array_paths_agree_and_other_rates_are_resampled() -> None:
    x = harmonic(180.0, 1.0)
    clip = clip_from_array(x, SR)
    a, b = compute_features(clip), compute_features(x)
    np.testing.assert_allclose(a.mel, b.mel, atol=1e-3)
    np.testing.assert_array_equal(a.voiced, b.voiced)
    t = np.arange(8000) / 8000
    at_8k = (0.5 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    feats = compute_features(at_8k, rate=8000)
    assert feats.n_frames == 100
    assert np.median(feats.f0_hz[feats.voiced]) == pytest.approx(180.0, rel=0.03)


def test_rejects_non_mono_or_integer_arrays() -> None:
    with pytest.raises(AudioDataError):
        compute_features(np.zeros((SR, 2), np.float32))
    with pytest.raises(AudioDataError):
        compute_features(np.zeros(SR, np.int16))


def test_very_short_and_empty_inputs() -> None:
    feats = compute_features(np.zeros(0, np.float32))
    assert feats.mel.shape == (0, 80) and feats.n_frames == 0
    feats = compute_features(harmonic(200.0, 0.015))
    assert feats.mel.shape == (2, 80)  # 240 samples: ceil(240 / 160) frames


def test_real_recording() -> None:
    wav = SPEECH_DIR / "wav16k" / "ps_librivox_0870.wav"
    if not wav.is_file():
        pytest.skip(f"shared speech recordings not found at {SPEECH_DIR}")
    clip = load_audio(wav)
    info = sf.info(str(wav))
    assert clip.duration == pytest.approx(info.frames / info.samplerate)
    feats = compute_features(clip)
    assert feats.n_frames == int(np.ceil(clip.duration * 100))
    assert 0.2 < feats.voiced.mean() < 0.9  # read speech: vowels and voiced consonants, with pauses
    assert 70.0 < float(np.median(feats.f0_hz[feats.voiced])) < 300.0
    assert feats.energy_db[feats.voiced].mean() > feats.energy_db[~feats.voiced].mean()
