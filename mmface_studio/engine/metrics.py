"""Lip-sync quality measured on the head itself: lip closure, opening vs loudness, smoothness, emotion.

Why geometry and not channel values: "the lips close on /p b m/" is a statement about the mesh.
Channel thresholds (jawOpen <= 0.08, mouthClose >= 0.1...) are the engine's own recipe; checking
the recipe only proves the engine does what it says, not that the result looks right on a rig
where, say, a funnel lifts the upper lip. So the lips are found on the rig by geometry and the
gap between them is measured after deforming, in the head's own frame (head rotation moves the
lips rigidly and must not count as opening).

The thresholds, and why (for the built-in head; numbers from ``describe_thresholds``):

- ``CLOSURE_THRESHOLD_M`` = 1.2 mm. The head has a slit of 0.43 mm at rest (mean over the three
  inner-lip columns within 6 mm of the midline). The engine's bilabial bounds all at their
  limits at once (jawOpen 0.08 with mouthClose 0.1, funnel 0.1, press 0.2, lower-down and
  upper-up 0.05) leave 0.85 mm: lips touching, to the eye. The least open shape that is *not*
  a closure, /f v/ (lower lip under the upper teeth, upper lip raised), leaves 2.2 mm, /s/
  3.1 mm and /t/ 4.5 mm. 1.2 mm separates the families; a head filling a 720-pixel-tall view
  shows it as about 3 pixels.
- ``CORRELATION_MIN`` = 0.6 (Pearson r of lip gap vs audio energy in the speech band, 500-4000
  Hz, see ``speech_band_energy_db``): the mouth follows loudness, but articulation decouples them
  by nature (a loud /aa/ after a quiet /h/ is fine; a voiced /m/ or /b/ is loud with the lips
  shut), so r 0.6 -- the opening explaining over a third of the energy's variance -- is what good
  lip-sync reaches, while a mouth 200 ms late drops to about 0. Frames inside /p b m/ closures
  can be left out (``keep``): there physics requires opening and energy to disagree, and the
  closure rate judges them instead. The band replaced broadband RMS: below 500 Hz sit the voice's
  fundamental and the murmur of nasals and voice bars, strong with the lips shut; on nasal-dense
  read speech (ps_librivox_0920) broadband energy stayed within ~10 dB while the mouth opened and
  closed per syllable (r 0.53 broadband, 0.65 in the band). It is not a looser measure: on the
  same takes it also drops further for a mouth 200 ms late (espeak-ng median 0.14 -> 0.10), and
  the edges are not tuned to a knife's edge (medians within 0.03 for 400-4000 Hz, 0.08 for
  600-5000 Hz).
- ``JAW_JITTER_MAX`` = 0.06 per frame at 30 fps, the engine tests' bound: a clean 4 Hz syllable
  cycle of 0.25 peak-to-peak jaw travel has mean |second difference| 0.056; chatter
  (frame-to-frame flips) costs 4x its amplitude per frame. For the lip gap the same bound is
  scaled by the rig's lip travel per unit jawOpen (30.7 mm, so 1.8 mm per frame), and for other
  frame rates by (30 / fps)^2 (the second difference of a smooth curve scales so).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT_POSE_CHANNELS

CLOSURE_THRESHOLD_M = 1.2e-3
CORRELATION_MIN = 0.6
CLOSURE_RATE_MIN = 0.95
JAW_JITTER_MAX = 0.06
JITTER_REFERENCE_FPS = 30.0
BILABIALS: tuple[str, ...] = ("P", "B", "M")
#: Energy more than this far below the clip's loudest frame is silence, whatever its level: the
#: mouth does not track the difference between -60 and -100 dBFS of nothing.
ENERGY_RANGE_DB = 40.0
#: Smoothing of the energy before correlating (s, Gaussian sigma): articulation leads and lags the
#: acoustic envelope by tens of ms (anticipation, release), so compare at syllable resolution.
ENERGY_SMOOTH_S = 0.05
#: The band (Hz) whose energy the opening is compared with (`speech_band_energy_db`).
SPEECH_BAND_HZ = (500.0, 4000.0)
_BAND_RATE, _BAND_HOP, _BAND_WIN = 16000, 160, 400

#: Lip search (metres): only columns this close to the midline count (the corners stretch and
#: smile rather than open), and a lip vertex is a contact vertex when the other lip is this close.
_MIDLINE_HALF_WIDTH = 0.008
_CONTACT_RADIUS = 0.003
#: jawOpen motion (share of the rig's largest) below which a vertex is "upper face", above "jaw".
_STATIC_SHARE, _JAW_SHARE = 0.15, 0.5


@dataclass(frozen=True)
class LipLandmarks:
    """Inner-lip contact vertices in columns across the mouth slit.

    ``upper[c]`` / ``lower[c]``: vertex indices of column c (padded by repeating a member), the
    upper-lip vertices that meet the lower lip there and vice versa. The gap of a column is the
    lowest upper vertex minus the highest lower vertex (y, head frame): taking the extreme of a
    few rows rather than one vertex keeps it right when the lips roll in or press.
    """

    upper: np.ndarray
    lower: np.ndarray
    column_x: np.ndarray

    @property
    def vertices(self) -> np.ndarray:
        return np.unique(np.concatenate([self.upper.ravel(), self.lower.ravel()]))


_CACHE: weakref.WeakKeyDictionary[Any, LipLandmarks] = weakref.WeakKeyDictionary()


def _skin(rig: Any) -> np.ndarray:
    for part in getattr(rig, "parts", ()):
        if part.name == "skin":
            return np.unique(part.faces)
    return np.arange(rig.vertex_count)


def _padded(groups: list[np.ndarray]) -> np.ndarray:
    width = max(len(g) for g in groups)
    return np.array([np.concatenate([g, np.full(width - len(g), g[0])]) for g in groups], np.int64)


def find_lip_landmarks(rig: Any) -> LipLandmarks:
    """Find the inner-lip contact vertices of an ARKit-space rig from its jawOpen motion.

    Upper-lip vertices barely move with jawOpen, lower-lip ones move most; the mouth slit is the
    one place in front of the face where the two kinds sit within a few millimetres of each
    other (elsewhere the motion fades gradually over the cheeks and chin). Columns are the
    lower lip's vertex columns near the midline; each upper contact vertex joins its nearest.
    """
    rest = rig.deform(rig.params()).astype(np.float64)
    motion = np.linalg.norm(rig.deform(rig.params({"jawOpen": 1.0})) - rest, axis=1)
    skin = _skin(rig)
    centre_x = 0.5 * (rest[skin, 0].min() + rest[skin, 0].max())
    near_mid = skin[np.abs(rest[skin, 0] - centre_x) < _MIDLINE_HALF_WIDTH]
    top = motion[skin].max()
    upper = near_mid[motion[near_mid] < _STATIC_SHARE * top]
    lower = near_mid[motion[near_mid] > _JAW_SHARE * top]
    if upper.size == 0 or lower.size == 0:
        raise ValueError(f"{getattr(rig, 'name', 'rig')}: no lips found (jawOpen moves no skin near the midline)")
    dist = np.linalg.norm(rest[upper, None, :] - rest[None, lower, :], axis=2)
    # Only the slit: both kinds within the contact radius, around the closest pair of all.
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    mouth = 0.5 * (rest[upper[i]] + rest[lower[j]])
    around = 4 * _CONTACT_RADIUS
    up = upper[(dist.min(axis=1) < _CONTACT_RADIUS) & (np.linalg.norm(rest[upper] - mouth, axis=1) < around)]
    lo = lower[(dist.min(axis=0) < _CONTACT_RADIUS) & (np.linalg.norm(rest[lower] - mouth, axis=1) < around)]
    # Columns: the lower lip's distinct x positions (vertices within 1 mm share a column).
    xs = np.sort(rest[lo, 0])
    clusters = np.split(xs, np.flatnonzero(np.diff(xs) > 1e-3) + 1)
    cols = np.array([c.mean() for c in clusters])
    up_col = np.argmin(np.abs(rest[up, 0][:, None] - cols[None, :]), axis=1)
    lo_col = np.argmin(np.abs(rest[lo, 0][:, None] - cols[None, :]), axis=1)
    up_groups = [up[up_col == c] for c in range(len(cols))]
    lo_groups = [lo[lo_col == c] for c in range(len(cols))]
    keep = [c for c in range(len(cols)) if up_groups[c].size and lo_groups[c].size]
    if not keep:
        raise ValueError(f"{getattr(rig, 'name', 'rig')}: lips found but no column has both lips")
    return LipLandmarks(_padded([up_groups[c] for c in keep]), _padded([lo_groups[c] for c in keep]),
                        cols[keep] - centre_x)


def lip_landmarks(rig: Any) -> LipLandmarks:
    """:func:`find_lip_landmarks`, cached per rig object (identity sliders do not move the topology)."""
    found = _CACHE.get(rig)
    if found is None:
        found = _CACHE[rig] = find_lip_landmarks(rig)
    return found


def _values(performance: Performance | np.ndarray) -> np.ndarray:
    values = performance.values if isinstance(performance, Performance) else np.asarray(performance)
    return values.reshape(values.shape[0], -1).astype(np.float32)


def landmark_y(rig: Any, performance: Performance | np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(T, K) height of ``vertices`` per frame in the head's frame (pose channels zeroed).

    Fast path for rigs whose blendshapes are the leading channels of their space (the built-in
    head): rest + weights @ deltas, for the few vertices only. Other rigs deform every frame.
    """
    values = _values(performance)
    names = tuple(getattr(rig, "blendshape_names", ()))
    space_names = tuple(rig.space.names)
    if names and space_names[: len(names)] == names:
        deltas = np.asarray(rig.blendshape_deltas())[:, vertices, 1]  # (S, K)
        rest_y = rig.deform(rig.params())[vertices, 1].astype(np.float64)
        return rest_y[None, :] + values[: len(names)].T.astype(np.float64) @ deltas.astype(np.float64)
    pose = [rig.space.index[n] for n in ARKIT_POSE_CHANNELS if n in rig.space.index]
    out = np.empty((values.shape[1], len(vertices)))
    for f in range(values.shape[1]):
        frame = values[:, f].copy()
        frame[pose] = 0.0
        out[f] = rig.deform(frame)[vertices, 1]
    return out


def lip_gap(rig: Any, performance: Performance | np.ndarray) -> np.ndarray:
    """(T,) mean vertical gap between the lips (metres) per frame; <= 0 where they touch or press."""
    marks = lip_landmarks(rig)
    verts = marks.vertices  # sorted, so searchsorted maps vertex ids to columns of y
    y = landmark_y(rig, performance, verts)
    up, lo = np.searchsorted(verts, marks.upper), np.searchsorted(verts, marks.lower)
    return (y[:, up].min(axis=2) - y[:, lo].max(axis=2)).mean(axis=1)


def rest_gap(rig: Any) -> float:
    """Lip gap of the neutral face (the built-in head's small slit)."""
    return float(lip_gap(rig, rig.params()[:, None])[0])


def jaw_lip_travel(rig: Any) -> float:
    """How much jawOpen 1 opens the lips (metres): converts jawOpen thresholds to gap thresholds."""
    return float(lip_gap(rig, rig.params({"jawOpen": 1.0})[:, None])[0]) - rest_gap(rig)


# --- closure -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalGap:
    """One phone interval and the smallest lip gap over its frames."""

    label: str
    start: float
    end: float
    min_gap: float


def _span(item: Any) -> tuple[str, float, float]:
    if isinstance(item, tuple):
        label, start, end = item
        return str(label), float(start), float(end)
    return str(item.label), float(item.start), float(item.end)


def frames_in(start: float, end: float, fps: float, n_frames: int) -> np.ndarray:
    """Frames whose time f / fps lies in [start, end); the nearest frame when the interval holds none
    (a 20 ms /p/ between two frames must still be visible on one of them)."""
    a = max(int(np.ceil(start * fps - 1e-9)), 0)
    b = min(int(np.ceil(end * fps - 1e-9)), n_frames)
    if b > a:
        return np.arange(a, b)
    return np.array([min(max(int(round(0.5 * (start + end) * fps)), 0), n_frames - 1)])


def interval_frames(phone_intervals: Iterable[Any], n_frames: int, fps: float,
                    labels: Sequence[str] = BILABIALS) -> np.ndarray:
    """(n_frames,) bool: frames inside any ``labels`` interval (same frame rule as the closure test)."""
    wanted = set(labels)
    inside = np.zeros(n_frames, bool)
    for item in phone_intervals:
        label, start, end = _span(item)
        if label in wanted:
            inside[frames_in(start, end, fps, n_frames)] = True
    return inside


def interval_gaps(gaps: np.ndarray, phone_intervals: Iterable[Any], fps: float,
                  labels: Sequence[str] = BILABIALS) -> list[IntervalGap]:
    """The minimum gap inside every interval whose label is in ``labels``.

    ``phone_intervals``: objects with label/start/end (engine ``PhoneSpan``, audio ``Phone``) or
    (label, start, end) tuples, in seconds.
    """
    wanted = set(labels)
    out = []
    for item in phone_intervals:
        label, start, end = _span(item)
        if label in wanted:
            out.append(IntervalGap(label, start, end, float(gaps[frames_in(start, end, fps, gaps.size)].min())))
    return out


def closure_rate(gaps: np.ndarray, phone_intervals: Iterable[Any], fps: float, labels: Sequence[str] = BILABIALS,
                 threshold_m: float = CLOSURE_THRESHOLD_M) -> float:
    """Share of ``labels`` intervals in which the lips close (min gap <= threshold); NaN when none."""
    found = interval_gaps(gaps, phone_intervals, fps, labels)
    if not found:
        return float("nan")
    return float(np.mean([g.min_gap <= threshold_m for g in found]))


# --- opening vs energy, smoothness, emotion ------------------------------------------------------------------


def energy_at_frames(energy_db: np.ndarray, n_frames: int, fps: float, feature_rate: float = 100.0,
                     smooth_s: float = ENERGY_SMOOTH_S, range_db: float = ENERGY_RANGE_DB) -> np.ndarray:
    """Energy (dB, frame i centred on (i + 0.5) / rate) floored at max - ``range_db``, smoothed,
    sampled at the animation frame times f / fps."""
    e = np.asarray(energy_db, np.float64).reshape(-1)
    if e.size == 0:
        return np.zeros(n_frames)
    e = np.maximum(e, e.max() - range_db)
    if smooth_s > 0:
        e = gaussian_filter1d(e, smooth_s * feature_rate, mode="nearest")
    t = np.arange(n_frames) / fps
    return np.interp(t * feature_rate - 0.5, np.arange(e.size), e)


def speech_band_energy_db(audio16k: np.ndarray, band_hz: tuple[float, float] = SPEECH_BAND_HZ) -> np.ndarray:
    """Energy (dB) of 16 kHz audio in ``band_hz``, per 10 ms frame (25 ms Hann window centred on
    (i + 0.5) / 100 s, as the audio layer's features): what `opening_energy_correlation` compares.

    Why a band and not broadband RMS: below ~500 Hz sit the voice's fundamental and the murmur of
    /m n ng/ and the voice bar of /b d g/, all strong while the lips are shut, and they dominate a
    broadband RMS; the opening of the mouth shows in the formant region above (F1 rises with the
    jaw, the lips' opening radiates F2/F3). On read speech with many nasals (ps_librivox_0920)
    broadband energy stays within ~10 dB while the mouth opens and closes per syllable.
    """
    x = np.asarray(audio16k, np.float64).reshape(-1)
    n = -(-x.size // _BAND_HOP)
    if n == 0:
        return np.zeros(0)
    left = (_BAND_WIN - _BAND_HOP) // 2
    padded = np.zeros((n - 1) * _BAND_HOP + _BAND_WIN)
    padded[left:left + x.size] = x[: padded.size - left]
    idx = np.arange(n)[:, None] * _BAND_HOP + np.arange(_BAND_WIN)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_BAND_WIN) / _BAND_WIN)
    out = np.empty(n)
    freqs = np.fft.rfftfreq(512, 1.0 / _BAND_RATE)
    sel = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    for a in range(0, n, 2048):  # chunks keep the temporaries small on long clips
        spec = np.fft.rfft(padded[idx[a:a + 2048]] * window, n=512, axis=1)
        out[a:a + 2048] = np.sum(np.abs(spec[:, sel]) ** 2, axis=1)
    return 10.0 * np.log10(out / _BAND_WIN + 1e-12)


def opening_energy_correlation(gaps: np.ndarray, energy_db_100hz: np.ndarray, fps: float,
                               smooth_s: float = ENERGY_SMOOTH_S, feature_rate: float = 100.0,
                               keep: np.ndarray | None = None) -> float:
    """Pearson r between the lip opening per frame and the audio energy at the same frames.

    ``energy_db_100hz``: `speech_band_energy_db` of the audio for the product's measure (the
    broadband RMS of the audio features works too, and reads lower on nasal-dense speech).

    The energy is floored ``ENERGY_RANGE_DB`` below the clip's peak (silence is silence) and
    smoothed by ``smooth_s``; the gap is used as measured (negative = pressed). ``keep`` (bool per
    frame) restricts the frames, e.g. to those outside /p b m/ closures: a voiced /m/ or /b/ is
    loud with the lips shut, by physics, so there opening and energy must disagree.
    """
    g = np.asarray(gaps, np.float64).reshape(-1)
    e = energy_at_frames(energy_db_100hz, g.size, fps, feature_rate, smooth_s)
    if keep is not None:
        g, e = g[keep], e[keep]
    if g.std() < 1e-12 or e.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(g, e)[0, 1])


def jitter(curve: np.ndarray) -> float:
    """Mean absolute second difference per frame: what chatter costs (see the module docstring)."""
    c = np.asarray(curve, np.float64).reshape(-1)
    return float(np.abs(np.diff(c, 2)).mean()) if c.size > 2 else 0.0


def jitter_threshold(fps: float, per_unit: float = 1.0) -> float:
    """``JAW_JITTER_MAX`` (jawOpen units at 30 fps) at ``fps``, times ``per_unit`` (e.g. the rig's lip
    travel per unit jawOpen, for a threshold on the gap in metres)."""
    return JAW_JITTER_MAX * (JITTER_REFERENCE_FPS / float(fps)) ** 2 * per_unit


def emotion_projection(performance: Performance | np.ndarray, emotion: str) -> np.ndarray:
    """(T,) projection of the 52 face shapes on the classic engine's unit direction for ``emotion``."""
    from mmface_studio.engine.classic.emotion import projection

    return projection(_values(performance)[:52], emotion)


# --- espeak-ng ground truth ----------------------------------------------------------------------------------


#: espeak-ng phoneme mnemonics of the bilabials (``m-``: syllabic m, as in "rhythm").
ESPEAK_BILABIALS: dict[str, str] = {"p": "P", "b": "B", "m": "M", "m-": "M"}
_HOP_S, _WIN_S = 0.005, 0.010
_SILENT_BELOW_PEAK_DB = 30.0
_MAX_CLOSURE_S = 0.1
_RELEASE_RISE_DB = 6.0


def _fine_energy(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    hop, win = int(_HOP_S * rate), int(_WIN_S * rate)
    n = max((len(audio) - win) // hop + 1, 1)
    idx = np.arange(n)[:, None] * hop + np.arange(win)[None, :]
    x = np.asarray(audio, np.float64)
    frames = x[np.minimum(idx, len(x) - 1)] if len(x) else np.zeros((1, win))
    db = 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    return (np.arange(n) * hop + win / 2) / rate, db


def espeak_bilabial_intervals(phones: Sequence[Any], audio: np.ndarray, rate: int = 16000,
                              offset: float = 0.0) -> list[tuple[str, float, float]]:
    """True lip-closure intervals of /p b m/ from espeak-ng's phoneme events and its audio.

    espeak-ng's events do not mark phone boundaries the way an aligner does (its synthesize.c):
    a stop's closure is a pause emitted *before* its event, so a /p/ event marks the release
    burst and a /b/ event the voice bar after any such pause; a vowel after a nasal gets its
    event only after the vowel's onset transition, so [m, next event) runs past the release.
    Hence, per /p b m/ event (``phones``: objects with ``symbol`` and ``start``):

    - start: for stops, the onset of the silent stretch right before the event (the closure,
      at most 0.1 s back, never before the previous event); for /m/ the event itself;
    - end: /p/ its event (the release); /b m/ the first energy rise of 6 dB in 10 ms after it
      (the release into the next sound), else the next event.

    A /p/ with no silent stretch before it (after an /m/, whose lips are already shut, or in
    breathy voices whose closures are noise 30 dB down rather than silence) gets an empty
    interval at its release; the closure test then looks at the frame nearest to it.

    ``offset`` shifts the times (e.g. silence padded in front of the synthesised audio).
    """
    t, db = _fine_energy(audio, rate)
    silent = db < db.max() - _SILENT_BELOW_PEAK_DB
    out = []
    for k, phone in enumerate(phones):
        label = ESPEAK_BILABIALS.get(str(phone.symbol))
        if label is None:
            continue
        at = float(phone.start)
        prev_at = float(phones[k - 1].start) if k else 0.0
        next_at = float(phones[k + 1].start) if k + 1 < len(phones) else t[-1]
        start = at
        if label in ("P", "B"):
            # The window straddling the event holds the burst's first samples: start just before it.
            i = int(np.searchsorted(t, at - _WIN_S / 2, side="right")) - 1
            floor = max(prev_at, at - _MAX_CLOSURE_S)
            while i >= 0 and silent[i] and t[i] >= floor:
                start = float(t[i]) - _WIN_S / 2
                i -= 1
            start = max(start, floor)
        if label == "P":
            end = at
        else:
            end = next_at
            step = int(round(_WIN_S / _HOP_S))
            for i in range(int(np.searchsorted(t, at + 0.015)), len(t) - step):
                if t[i] >= next_at:
                    break
                if db[i + step] - db[i] >= _RELEASE_RISE_DB:
                    end = float(t[i] + t[i + step]) / 2
                    break
        out.append((label, start + offset, max(end, start) + offset))
    return out


def describe_thresholds(rig: Any | None = None) -> dict[str, Any]:
    """The thresholds and the rig numbers behind them, for reports."""
    out: dict[str, Any] = {
        "closure_threshold_mm": CLOSURE_THRESHOLD_M * 1e3, "closure_rate_min": CLOSURE_RATE_MIN,
        "correlation_min": CORRELATION_MIN, "jaw_jitter_max_per_frame_at_30fps": JAW_JITTER_MAX,
        "energy_floor_below_peak_db": ENERGY_RANGE_DB, "energy_smoothing_s": ENERGY_SMOOTH_S,
    }
    if rig is not None:
        from mmface_studio.engine.classic import coarticulation as co
        from mmface_studio.engine.classic import visemes as vz

        def gap_of(shape: dict[str, float]) -> float:
            return float(lip_gap(rig, rig.params(vz.expand_symmetric(shape))[:, None])[0]) * 1e3

        worst = {**{k: v for k, v in co.CONSTRAINTS["bilabial"].caps.items() if v > 0},
                 **dict(co.CONSTRAINTS["bilabial"].floors)}
        out["rig"] = {
            "name": rig.name, "rest_gap_mm": round(rest_gap(rig) * 1e3, 3),
            "lip_travel_per_jawOpen_mm": round(jaw_lip_travel(rig) * 1e3, 2),
            "gap_at_bilabial_bounds_mm": round(gap_of(worst), 3),
            "gap_fv_target_mm": round(gap_of(dict(vz.VISEMES["FV"].targets)), 3),
            "gap_tdn_target_mm": round(gap_of(dict(vz.VISEMES["TDN"].targets)), 3),
            "gap_sz_target_mm": round(gap_of(dict(vz.VISEMES["SZ"].targets)), 3),
            "lip_columns_x_mm": [round(float(x) * 1e3, 1) for x in lip_landmarks(rig).column_x],
        }
    return out
