"""Frame-level features at 100 Hz: log-mel spectrogram, RMS energy and pitch (f0 + voicing).

The whole generation budget for 60 s of speech is 0.6 s on two cores, so features must cost a
few tens of milliseconds (about 45 ms for 60 s here, single-threaded): frames are strided views,
transforms are batched real FFTs over 1024 frames at a time (scipy.fft keeps float32; the batch
keeps temporaries in cache and memory flat for long files), and there is no per-frame Python.

Frame ``i`` describes the 10 ms hop ``[i * 10 ms, (i + 1) * 10 ms)``; its analysis windows are
centred on that hop, so ``n_frames = ceil(duration * 100)`` and frame times line up with an
animation timeline without a half-window shift.

Pitch is a YIN-style estimator (de Cheveigne & Kawahara 2002: cumulative-mean-normalised
difference function, first dip under a threshold, parabolic refinement) run on an 8 kHz copy,
which holds every speech f0 and the harmonics that matter for it at half the cost. The copy is
high-passed at 100 Hz so that mains hum in pauses is not taken for a voice, frames more than
30 dB below the loud part are not analysed, and isolated octave jumps are folded back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse as sp
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import butter, sosfilt

from mmface_studio.audio.clip import ANALYSIS_RATE, AudioClip, resample
from mmface_studio.audio.errors import AudioDataError

FPS = 100
HOP = ANALYSIS_RATE // FPS  # 160 samples
WIN = ANALYSIS_RATE * 25 // 1000  # 400 samples = 25 ms
N_FFT = WIN  # 400 like Whisper's front end: no zero-padding, 40 Hz bins
N_MELS = 80
F_MIN, F_MAX = 0.0, ANALYSIS_RATE / 2
F0_MIN, F0_MAX = 50.0, 550.0  # covers low male voices to children's speech

_PITCH_RATE = 8_000
_PITCH_HOP = _PITCH_RATE // FPS  # 80
_PITCH_WIN = 240  # 30 ms integration window: two periods of a 67 Hz voice
_TAU_MIN = int(_PITCH_RATE // F0_MAX)  # 14
_TAU_MAX = int(np.ceil(_PITCH_RATE / F0_MIN))  # 160
PITCH_HIGHPASS_HZ = 100.0  # removes mains hum; voices below keep their period through the harmonics
YIN_THRESHOLD = 0.15  # first CMNDF dip under this is the period (YIN's absolute threshold)
YIN_RELATIVE_MARGIN = 0.1  # ...or a dip within this of the frame's deepest one (see _yin)
VOICED_MAX_CMNDF = 0.4  # a frame whose best dip stays above this is aperiodic: unvoiced
VOICED_MIN_DB_BELOW_LOUD = 30.0  # frames quieter than the loud part by more than this are unvoiced
ENERGY_FLOOR_DB = -100.0
CHUNK_FRAMES = 1024  # frames per batch of FFTs: ~2 MB temporaries whatever the clip length


@dataclass(eq=False)
class AudioFeatures:
    """Per-frame features at ``fps`` (100 Hz) of a 16 kHz mono signal.

    ``mel``: frames x 80, natural log of mel-filtered power (Slaney mel scale and area
    normalisation, 0-8 kHz, 25 ms periodic Hann window, 400-point FFT), floored at log(1e-10).
    ``energy_db``: RMS over the same 25 ms, dB relative to full scale (a full-scale sine is -3 dB).
    ``f0_hz``: fundamental frequency, 0 on unvoiced frames. ``voiced``: the voicing flag.
    ``periodicity``: 1 - the best CMNDF dip, a 0..1 confidence that a frame is periodic (0 on
    frames more than 30 dB below the loud part, which are not analysed).
    """

    mel: np.ndarray
    energy_db: np.ndarray
    f0_hz: np.ndarray
    voiced: np.ndarray
    periodicity: np.ndarray
    fps: float = float(FPS)

    @property
    def n_frames(self) -> int:
        return int(self.mel.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Centre of each frame's hop, in seconds."""
        return (np.arange(self.n_frames, dtype=np.float64) + 0.5) / self.fps


def compute_features(source: AudioClip | np.ndarray, rate: int = ANALYSIS_RATE) -> AudioFeatures:
    """Log-mel, energy and f0 of a clip (its analysis copy) or of a mono float array at ``rate``.

    CPU-bound (about 0.75 ms per second of audio): call it off the GUI thread like any analysis.
    """
    if isinstance(source, AudioClip):
        x = np.ascontiguousarray(source.analysis, dtype=np.float32)
    else:
        x = np.asarray(source)
        if x.ndim != 1 or x.dtype.kind != "f":
            raise AudioDataError(
                f"compute_features expects a mono float signal of shape (frames,), got {x.dtype} {x.shape}; "
                "pass other audio through clip_from_array first."
            )
        x = resample(x, rate) if int(rate) != ANALYSIS_RATE else np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise AudioDataError("compute_features got NaN or infinite samples; validate with clip_from_array.")
    n_frames = -(-x.shape[0] // HOP)
    if n_frames == 0:
        empty = np.zeros(0, np.float32)
        return AudioFeatures(np.zeros((0, N_MELS), np.float32), empty, empty, np.zeros(0, bool), empty)
    frames = _frames(x, n_frames, WIN, HOP)
    # Row chunks keep the FFT temporaries a few MB (in cache, and flat in memory for long files).
    mel = np.empty((n_frames, N_MELS), np.float32)
    for start in range(0, n_frames, CHUNK_FRAMES):
        mel[start : start + CHUNK_FRAMES] = log_mel(frames[start : start + CHUNK_FRAMES])
    energy_db = _energy_db(frames)
    f0, voiced, periodicity = _pitch(x, n_frames)
    return AudioFeatures(mel=mel, energy_db=energy_db, f0_hz=f0, voiced=voiced, periodicity=periodicity)


def _pad(x: np.ndarray, n_frames: int, win: int, hop: int, left: int | None = None) -> np.ndarray:
    """Zero-padded copy of ``x`` so that frame i starts at ``i * hop`` and spans ``win`` samples.

    Frame i begins ``left`` samples before the centre of hop i (by default the window is centred
    on the hop), so the frame at ``i * hop`` in the padded signal describes hop i of ``x``.
    """
    start = (win - hop) // 2 if left is None else left - hop // 2
    total = (n_frames - 1) * hop + win
    padded = np.zeros(total, dtype=np.float32)
    n = min(x.shape[0], total - start)
    padded[start : start + n] = x[:n]
    return padded


def _frames(x: np.ndarray, n_frames: int, win: int, hop: int, left: int | None = None) -> np.ndarray:
    """A (n_frames, win) strided view over the padded signal: no copy of the samples."""
    return sliding_window_view(_pad(x, n_frames, win, hop, left), win)[::hop]


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters on the Slaney mel scale, area-normalised.

    Slaney's scale (linear to 1 kHz, logarithmic above) and normalisation are what most speech
    models trained on log-mels use, so a later neural front end can reuse these features.
    """
    mels = np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), n_mels + 2)
    edges = _mel_to_hz(mels)
    bins = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (upper - lower)  # equal area per filter
    out = np.ascontiguousarray(weights.T, dtype=np.float32)
    out.flags.writeable = False
    return out


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    lin = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, lin)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    lin = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, lin)


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann
    w.flags.writeable = False
    return w


def log_mel(frames: np.ndarray) -> np.ndarray:
    """(n, WIN) frames -> (n, N_MELS) float32 log mel power."""
    spec = scipy.fft.rfft(frames * _hann(frames.shape[1]), n=N_FFT, axis=1)
    power = spec.real * spec.real
    power += spec.imag * spec.imag
    mel = np.ascontiguousarray((_sparse_filterbank() @ power.T).T)
    np.maximum(mel, np.float32(1e-10), out=mel)
    return np.log(mel, out=mel)


@lru_cache(maxsize=1)
def _sparse_filterbank() -> sp.csr_matrix:
    """The filterbank as a sparse (n_mels, bins) matrix: each bin feeds at most two filters.

    A single-threaded sparse product is ~1 ms for 60 s of frames; the dense BLAS product is not
    faster and, multi-threaded, spins the second core the rest of the pipeline needs.
    """
    return sp.csr_matrix(np.array(mel_filterbank()).T)


def _energy_db(frames: np.ndarray) -> np.ndarray:
    mean_sq = np.einsum("ij,ij->i", frames, frames) / np.float32(frames.shape[1])
    energy = 10.0 * np.log10(np.maximum(mean_sq, 10 ** (ENERGY_FLOOR_DB / 10)))
    return energy.astype(np.float32)


def _pitch(x16: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YIN on all frames at once; returns (f0 Hz with 0 when unvoiced, voiced flags, periodicity)."""
    x = sosfilt(_highpass(), _decimate2(x16)).astype(np.float32, copy=False)
    # Each segment is the integration window plus the largest lag, placed so that the region
    # compared at a typical 100 Hz period (window + 80 samples) is centred on the hop.
    seg_len = _PITCH_WIN + _TAU_MAX
    padded = _pad(x, n_frames, seg_len, _PITCH_HOP, left=(_PITCH_WIN + _PITCH_RATE // 100) // 2)
    seg = sliding_window_view(padded, seg_len)[::_PITCH_HOP]
    # Energy of seg[t : t + W] for every lag t, from one running sum over the whole signal.
    cum = np.zeros(padded.shape[0] + 1)
    np.cumsum(np.square(padded, dtype=np.float64), out=cum[1:])
    window_energy = (cum[_PITCH_WIN:] - cum[:-_PITCH_WIN]).astype(np.float32)
    shifted = sliding_window_view(window_energy, _TAU_MAX + 1)[::_PITCH_HOP][:n_frames]
    # Gate on the high-passed window energy: pauses, hum and rumble are not voice, and skipping
    # them spares the FFTs for a third or more of the frames of typical dialogue.
    band_db = 10.0 * np.log10(np.maximum(shifted[:, 0] / _PITCH_WIN, 10 ** (ENERGY_FLOOR_DB / 10)))
    gate = max(float(np.percentile(band_db, 99)) - VOICED_MIN_DB_BELOW_LOUD, ENERGY_FLOOR_DB + 10)
    active = np.flatnonzero(band_db > gate)

    f0 = np.zeros(n_frames, np.float32)
    voiced = np.zeros(n_frames, bool)
    periodicity = np.zeros(n_frames, np.float32)
    for start in range(0, active.size, CHUNK_FRAMES):
        rows = active[start : start + CHUNK_FRAMES]
        tau, dip = _yin(seg[rows], shifted[rows])
        periodicity[rows] = np.clip(1.0 - dip, 0.0, 1.0)
        voiced[rows] = dip < VOICED_MAX_CMNDF
        f0[rows] = _PITCH_RATE / tau
    voiced[1:-1] &= voiced[:-2] | voiced[2:]  # a lone voiced frame between unvoiced ones is noise
    f0[~voiced] = 0.0
    return _fix_octave_jumps(f0, voiced), voiced, periodicity


def _yin(seg: np.ndarray, shifted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Period (in 8 kHz samples, sub-sample) and its CMNDF dip for each (window + lags) segment.

    ``shifted[i, t]`` is the energy of ``seg[i, t : t + W]``, precomputed from a running sum.
    """
    # r[t] = sum_{j < W} seg[j] * seg[j + t]: cross-correlation of the window with the segment.
    # An FFT of the segment length is enough: j + t < W + TAU_MAX never wraps around.
    seg_len = seg.shape[1]
    spec_seg = scipy.fft.rfft(seg, axis=1)
    windowed = np.array(seg, dtype=np.float32)  # explicit zero-padding: scipy pads slowly
    windowed[:, _PITCH_WIN:] = 0.0
    spec_win = scipy.fft.rfft(windowed, axis=1)
    np.conjugate(spec_win, out=spec_win)
    spec_win *= spec_seg
    r = scipy.fft.irfft(spec_win, n=seg_len, axis=1)[:, : _TAU_MAX + 1]
    diff = shifted + shifted[:, :1] - 2.0 * r  # YIN difference function d(t)
    np.maximum(diff, 0.0, out=diff)
    search = _cmndf(diff)[:, _TAU_MIN : _TAU_MAX + 1]

    inner = search[:, 1:-1]
    # A dip counts when it is under the absolute threshold or close to the frame's best dip: with
    # a breathy voice the true period's dip can sit above 0.15 while its double dips under it,
    # and taking the first dip below a fixed threshold would report the octave below.
    threshold = np.maximum(YIN_THRESHOLD, search.min(axis=1, keepdims=True) + YIN_RELATIVE_MARGIN)
    dips = (inner < threshold) & (inner <= search[:, :-2]) & (inner <= search[:, 2:])
    best = np.where(dips.any(axis=1), np.argmax(dips, axis=1) + 1, np.argmin(search, axis=1))
    best = np.clip(best, 1, search.shape[1] - 2)
    rows = np.arange(search.shape[0])
    left, mid, right = search[rows, best - 1], search[rows, best], search[rows, best + 1]
    curvature = left - 2.0 * mid + right
    shift = np.where(curvature > 1e-9, 0.5 * (left - right) / np.maximum(curvature, 1e-9), 0.0)
    return _TAU_MIN + best + np.clip(shift, -0.5, 0.5), mid


def _decimate2(x: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz with a [1, 3, 3, 1] / 8 binomial low-pass (-25 dB at 6 kHz).

    A long polyphase filter would cost more than the whole pitch tracker; pitch only needs the
    band below 2-3 kHz clean, and what aliases down from 5-8 kHz is weak in voiced speech and
    further attenuated here.
    """
    xp = np.zeros(x.shape[0] + 4 + (x.shape[0] & 1), dtype=np.float32)
    xp[1 : 1 + x.shape[0]] = x
    y = xp[0:-3:2] + xp[3::2]
    y += np.float32(3.0) * (xp[1:-2:2] + xp[2:-1:2])
    y *= np.float32(0.125)
    return y[: (x.shape[0] + 1) // 2]


def _fix_octave_jumps(f0: np.ndarray, voiced: np.ndarray, half_width: int = 3) -> np.ndarray:
    """Move a frame by an octave when it sits one octave off the median of its voiced neighbours.

    Octave errors are YIN's typical failure (a weak fundamental, or a double period dipping
    deeper); they show up as isolated frames at twice or half the surrounding pitch, which the
    head-motion and emotion stages would read as sudden pitch accents.
    """
    log_f0 = np.where(voiced, np.log2(np.maximum(f0, 1.0)), np.nan)
    padded = np.pad(log_f0, half_width, constant_values=np.nan)
    window = np.sort(sliding_window_view(padded, 2 * half_width + 1), axis=1)  # NaNs sort last
    count = np.count_nonzero(~np.isnan(window), axis=1)
    rows = np.arange(window.shape[0])
    lo = window[rows, np.maximum(count - 1, 0) // 2]
    hi = window[rows, count // 2 if window.shape[1] > 0 else 0]
    median = np.where(count > 0, 0.5 * (lo + np.where(count % 2 == 0, hi, lo)), np.nan)
    with np.errstate(invalid="ignore"):
        offset = log_f0 - median
        trusted = voiced & (count >= half_width + 1)
        too_high = trusted & (np.abs(offset - 1.0) < 0.3)
        too_low = trusted & (np.abs(offset + 1.0) < 0.3)
    out = f0.copy()
    out[too_high] *= 0.5
    out[too_low] *= 2.0
    return out


@lru_cache(maxsize=1)
def _highpass() -> np.ndarray:
    """6th-order Butterworth high-pass at PITCH_HIGHPASS_HZ: 60 Hz hum is cut by about 27 dB."""
    return butter(6, PITCH_HIGHPASS_HZ, btype="highpass", fs=_PITCH_RATE, output="sos")


def _cmndf(diff: np.ndarray) -> np.ndarray:
    """Cumulative-mean-normalised difference d'(t) = d(t) * t / sum_{k<=t} d(k); d'(0) = 1.

    Dividing by the running mean removes YIN's bias towards small lags and makes the threshold
    level-independent, so the same numbers work for whispers and shouts. The tiny constant on
    both sides makes an all-zero (digitally silent) frame come out as 1 everywhere: aperiodic.
    """
    out = np.empty_like(diff)
    out[:, 0] = 1.0
    tail = out[:, 1:]
    np.cumsum(diff[:, 1:], axis=1, out=tail)
    tail += np.float32(1e-12)
    np.divide(diff[:, 1:] * np.arange(1, diff.shape[1], dtype=diff.dtype) + np.float32(1e-12), tail, out=tail)
    return out
