"""Audio augmentation for the synthetic corpus: speed, pitch, noise, reverb, EQ and codec-like damage.

Why: TTS audio is cleaner and more uniform than any microphone. A model trained on it alone
learns the synthesiser, not speech; these transforms spread the training audio over rooms,
microphones, channels and voices, while the targets keep following the words.

Two kinds of transform, applied in this order:

- **timing-changing**: ``speed`` resamples (Kaldi-style speed perturbation: tempo and pitch move
  together); the phone spans are rescaled with it, so the targets follow.
- **timing-keeping**: ``pitch`` (resample + phase-vocoder stretch back to the same length),
  ``eq``, ``reverb`` (early part only in front of the direct sound: no delay), ``noise``,
  ``codec`` (band-limiting + mu-law quantisation). These never change the length, and the
  targets are computed from the audio before them, so they cannot change the targets.

Everything is numpy/scipy and a pure function of (audio, parameters); parameters are drawn
from a ``numpy.random.Generator`` so that an example's augmentation is fixed by its seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

RATE = 16_000


@dataclass(frozen=True)
class AugmentPlan:
    """The parameters of one example's augmentation (None: that transform is off)."""

    speed: float | None = None  # playback speed factor, 0.9..1.1
    pitch_semitones: float | None = None
    eq_db: tuple[float, ...] | None = None  # gains at EQ_BANDS_HZ
    reverb: dict[str, float] | None = None  # rt60_s, wet
    noise: dict[str, Any] | None = None  # colour, snr_db
    codec: dict[str, float] | None = None  # cutoff_hz, bits
    gain_db: float = 0.0
    seed: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-able record for the corpus index (what was done to this example's audio)."""
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "extras"}
        if self.eq_db is not None:
            out["eq_db"] = [round(g, 2) for g in self.eq_db]
        return out


EQ_BANDS_HZ: tuple[float, ...] = (150.0, 400.0, 1000.0, 2500.0, 6000.0)
NOISE_COLOURS: tuple[str, ...] = ("white", "pink", "brown", "babble")


def draw_plan(rng: np.random.Generator, *, allow_speed: bool = True) -> AugmentPlan:
    """A random plan: each transform on with its own probability (about one clip in six stays clean)."""
    speed = float(rng.uniform(0.9, 1.1)) if allow_speed and rng.random() < 0.5 else None
    pitch = float(rng.uniform(-3.0, 3.0)) if rng.random() < 0.35 else None
    eq = tuple(float(g) for g in rng.uniform(-8.0, 8.0, len(EQ_BANDS_HZ))) if rng.random() < 0.4 else None
    reverb = {"rt60_s": float(rng.uniform(0.15, 0.8)), "wet": float(rng.uniform(0.1, 0.5))} \
        if rng.random() < 0.35 else None
    noise = {"colour": str(rng.choice(NOISE_COLOURS)), "snr_db": float(rng.uniform(5.0, 35.0))} \
        if rng.random() < 0.5 else None
    codec = {"cutoff_hz": float(rng.choice([3400.0, 4000.0, 5500.0, 7000.0])), "bits": float(rng.choice([8, 10, 12]))} \
        if rng.random() < 0.3 else None
    return AugmentPlan(speed, pitch, eq, reverb, noise, codec, float(rng.uniform(-6.0, 3.0)),
                       int(rng.integers(0, 2**31 - 1)))


def apply_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (length / factor); times in the clip scale by 1 / factor."""
    up, down = _ratio(1.0 / factor)
    return resample_poly(audio.astype(np.float64), up, down).astype(np.float32)


def apply_after_timing(audio: np.ndarray, plan: AugmentPlan) -> np.ndarray:
    """The length-keeping transforms of ``plan``: output has exactly ``len(audio)`` samples."""
    rng = np.random.default_rng(plan.seed)
    x = np.asarray(audio, np.float64)
    n = len(x)
    if plan.pitch_semitones is not None:
        x = pitch_shift(x, plan.pitch_semitones)
    if plan.eq_db is not None:
        x = equalise(x, plan.eq_db)
    if plan.reverb is not None:
        x = reverberate(x, plan.reverb["rt60_s"], plan.reverb["wet"], rng)
    x = x * 10.0 ** (plan.gain_db / 20.0)
    if plan.noise is not None:
        x = add_noise(x, str(plan.noise["colour"]), float(plan.noise["snr_db"]), rng)
    if plan.codec is not None:
        x = codec(x, plan.codec["cutoff_hz"], int(plan.codec["bits"]))
    x = _fit(x, n)
    peak = float(np.max(np.abs(x))) if n else 0.0
    if peak > 0.99:  # keep headroom instead of clipping: clipping is not what we are teaching
        x *= 0.99 / peak
    return x.astype(np.float32)


def _ratio(r: float, limit: int = 400) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(r).limit_denominator(limit)
    return f.numerator, f.denominator


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.concatenate([x, np.zeros(n - len(x))])


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch (and formants) by ``semitones`` at constant length: resample, then stretch back."""
    factor = 2.0 ** (semitones / 12.0)
    up, down = _ratio(1.0 / factor)
    shifted = resample_poly(x, up, down)  # factor x higher, 1/factor as long
    return _fit(time_stretch(shifted, len(x)), len(x))


def time_stretch(x: np.ndarray, n_out: int, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase vocoder: ``x`` stretched to about ``n_out`` samples without changing its pitch."""
    if len(x) < n_fft or n_out <= 0:
        return _fit(x, n_out)
    window = np.hanning(n_fft)
    frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    spec = np.fft.rfft(x[idx] * window, axis=1)
    rate = (len(x) - n_fft) / max(n_out - n_fft, 1)
    steps = np.arange(0, frames - 1, rate)
    omega = 2 * np.pi * hop * np.arange(n_fft // 2 + 1) / n_fft
    phase = np.angle(spec[0])
    out = np.zeros(len(steps) * hop + n_fft)
    norm = np.zeros_like(out)
    for k, s in enumerate(steps):
        i = int(s)
        frac = s - i
        mag = (1 - frac) * np.abs(spec[i]) + frac * np.abs(spec[i + 1])
        frame = np.fft.irfft(mag * np.exp(1j * phase), n_fft) * window
        out[k * hop:k * hop + n_fft] += frame
        norm[k * hop:k * hop + n_fft] += window ** 2
        delta = np.angle(spec[i + 1]) - np.angle(spec[i]) - omega
        phase = phase + omega + (delta + np.pi) % (2 * np.pi) - np.pi
    return out / np.maximum(norm, 1e-3)


def equalise(x: np.ndarray, gains_db: tuple[float, ...]) -> np.ndarray:
    """A smooth random microphone/room colouring: gains at EQ_BANDS_HZ interpolated on a log axis."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / RATE)
    logf = np.log(np.maximum(freqs, 20.0))
    gains = np.interp(logf, np.log(EQ_BANDS_HZ), np.asarray(gains_db))
    return np.fft.irfft(spec * 10.0 ** (gains / 20.0), len(x))


def reverberate(x: np.ndarray, rt60_s: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Room reverb: exponentially decaying noise tail after a unit direct path (no added delay)."""
    n = int(min(rt60_s, 1.0) * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    tail[: int(0.003 * RATE)] = 0.0  # first reflections arrive after a few ms
    tail *= wet / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    ir = tail
    ir[0] = 1.0
    return fftconvolve(x, ir)[: len(x)]


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise: white, pink (1/f), brown (1/f^2) or babble-like (speech-band, syllable-rate AM)."""
    white = rng.standard_normal(n)
    if colour == "white" or n < 2:
        out = white
    else:
        spec = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n, 1.0 / RATE), 20.0)
        if colour == "pink":
            spec /= np.sqrt(f)
        elif colour == "brown":
            spec /= f
        else:  # babble: a speech-shaped band (300-3400 Hz) that swells at syllable rates
            spec *= np.exp(-0.5 * ((np.log(f) - math.log(900.0)) / 0.6) ** 2)
        out = np.fft.irfft(spec, n)
        if colour == "babble":
            t = np.arange(n) / RATE
            am = 1.0 + 0.6 * np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.3))
            out *= am
    return out / (np.sqrt(np.mean(out ** 2)) + 1e-12)


def add_noise(x: np.ndarray, colour: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Noise at ``snr_db`` below the speech's active level (silent clips get a quiet room tone)."""
    active = x[np.abs(x) > 1e-4]
    level = float(np.sqrt(np.mean(active ** 2))) if active.size else 10.0 ** (-45.0 / 20.0)
    return x + coloured_noise(len(x), colour, rng) * level * 10.0 ** (-snr_db / 20.0)


def codec(x: np.ndarray, cutoff_hz: float, bits: int) -> np.ndarray:
    """Telephone/VoIP-like damage: low-pass at ``cutoff_hz``, then mu-law quantisation to ``bits``."""
    sos = butter(8, cutoff_hz / (RATE / 2), btype="low", output="sos")
    y = sosfilt(sos, x)
    # Group delay of the filter would shift speech against the targets: undo its bulk delay.
    delay = _group_delay_samples(sos)
    y = np.concatenate([y[delay:], np.zeros(delay)]) if delay else y
    mu = 255.0
    peak = float(np.max(np.abs(y))) or 1.0
    c = np.sign(y) * np.log1p(mu * np.abs(y / peak)) / math.log1p(mu)
    levels = 2 ** (bits - 1)
    c = np.round(c * levels) / levels
    return np.sign(c) * (np.expm1(np.abs(c) * math.log1p(mu)) / mu) * peak


def _group_delay_samples(sos: np.ndarray) -> int:
    impulse = np.zeros(512)
    impulse[0] = 1.0
    h = sosfilt(sos, impulse)
    energy = h ** 2
    return int(round(float(np.sum(np.arange(len(h)) * energy) / (np.sum(energy) + 1e-12))))
