"""The audio rows of the timeline: the waveform (from a min/max pyramid) and the word and phone tracks.

A 10-minute 48 kHz stereo file holds 57.6 M samples; scanning them on every zoom or pan would take
far longer than a frame. :class:`WaveformPyramid` therefore reduces the clip once into min, max and
energy per block at resolutions 64, 256, 1024, ... frames; drawing picks the level whose blocks are
at most a quarter of a pixel column, so a redraw touches a few thousand numbers whatever the clip's
length (the raw samples are read only when zoomed in to fewer than 256 frames per pixel).

The build costs 2-4 ns per sample (100-250 ms for the 10-minute file on 2 busy cores), so clips above
``SYNC_SAMPLES`` are reduced on a worker thread (:func:`build_async`) while the row says so;
pyramids are cached per clip, so undoing an audio change does not rebuild.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QImage, QPainter, QPen

from mmface_studio.ui import theme
from mmface_studio.ui.timeline.ruler import RowItem, TimelineState, TimeMap, color, small_font

BASE_BLOCK = 64
FACTOR = 4
#: Clips with more samples than this (frames x channels) are reduced off the GUI thread: 4 M samples take
#: 7-20 ms here (bench/timeline_waveform.py), well inside the 50 ms a GUI-thread build may cost.
SYNC_SAMPLES = 4_000_000
_CHUNK_BLOCKS = 1 << 14
WAVE_PEAK = "#356a9e"
WAVE_RMS = "#62a8ec"
WAVE_AXIS = "#34373e"


@dataclass(frozen=True)
class Envelope:
    """Per pixel column ``first .. first + len(mins)``: min/max of the samples and their RMS (full scale 1)."""

    first: int
    mins: np.ndarray
    maxs: np.ndarray
    rms: np.ndarray


class WaveformPyramid:
    """Min, max and summed energy per block, at blocks of 64 * 4**level frames (channels merged)."""

    def __init__(self, samples: np.ndarray, rate: int, levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        self.samples = samples
        self.rate = int(rate)
        self.frames = int(samples.shape[0])
        self.levels = levels
        top = levels[-1]
        self.peak = float(max(np.max(np.abs(top[0])), np.max(np.abs(top[1])), 1e-6)) if len(top[0]) else 1e-6

    @classmethod
    def build(cls, samples: np.ndarray, rate: int) -> WaveformPyramid:
        """Reduce ``samples`` (frames x channels float32, e.g. ``AudioClip.original``) into the pyramid."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        frames, channels = x.shape
        count = -(-frames // BASE_BLOCK)
        mins, maxs = np.empty(count, np.float32), np.empty(count, np.float32)
        energy = np.empty(count, np.float32)
        full = frames // BASE_BLOCK
        for a in range(0, full, _CHUNK_BLOCKS):  # chunked so each block is reduced while it is in cache
            b = min(full, a + _CHUNK_BLOCKS)
            block = x[a * BASE_BLOCK:b * BASE_BLOCK].reshape(b - a, BASE_BLOCK * channels)
            mins[a:b], maxs[a:b] = block.min(axis=1), block.max(axis=1)
            energy[a:b] = np.einsum("ij,ij->i", block, block) / channels
        if full < count:
            tail = x[full * BASE_BLOCK:]
            mins[full], maxs[full] = tail.min(), tail.max()
            energy[full] = float(np.sum(tail.astype(np.float64) ** 2)) / channels
        levels = [(mins, maxs, energy)]
        while len(levels[-1][0]) > 2 * FACTOR:
            lo, hi, en = levels[-1]
            pad = -len(lo) % FACTOR
            lo = np.concatenate([lo, np.full(pad, np.inf, np.float32)]).reshape(-1, FACTOR)
            hi = np.concatenate([hi, np.full(pad, -np.inf, np.float32)]).reshape(-1, FACTOR)
            en = np.concatenate([en, np.zeros(pad, np.float32)]).reshape(-1, FACTOR)
            levels.append((lo.min(axis=1), hi.max(axis=1), en.sum(axis=1)))
        return cls(x, rate, levels)

    def envelope(self, t0: float, t1: float, columns: int) -> Envelope:
        """The envelope of ``columns`` equal pixel columns spanning ``t0 .. t1`` seconds (only those over the clip)."""
        columns = max(int(columns), 1)
        fpc = (t1 - t0) * self.rate / columns  # frames per column
        edges = t0 * self.rate + np.arange(columns + 1) * fpc
        c0 = int(np.searchsorted(edges, 0.0, side="right")) - 1
        c1 = int(np.searchsorted(edges, self.frames, side="left"))
        c0, c1 = max(c0, 0), min(c1, columns)
        if c1 <= c0 or fpc <= 0:
            return Envelope(0, *(np.empty(0, np.float32),) * 3)
        edges = np.clip(edges[c0:c1 + 1], 0, self.frames)
        level = int(math.floor(math.log(fpc / (FACTOR * BASE_BLOCK), FACTOR))) if fpc >= FACTOR * BASE_BLOCK else -1
        level = min(level, len(self.levels) - 1)
        if level < 0:
            mins, maxs, rms = self._from_samples(edges)
        else:
            mins, maxs, rms = self._from_level(level, edges)
        return Envelope(c0, mins, maxs, rms)

    def _from_level(self, level: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi, en = self.levels[level]
        block = BASE_BLOCK * FACTOR**level
        idx = np.floor(edges / block).astype(np.int64)
        end = min(int(math.ceil(edges[-1] / block)), len(lo))
        starts = np.minimum(idx[:-1], end - 1)
        first = int(starts[0])
        starts -= first
        mins = np.minimum.reduceat(lo[first:end], starts)
        maxs = np.maximum.reduceat(hi[first:end], starts)
        sums = np.add.reduceat(en[first:end], starts)
        counts = np.maximum(np.diff(np.append(starts + first, end)), 1) * block
        return mins, maxs, np.sqrt(sums / counts).astype(np.float32)

    def _from_samples(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = np.floor(edges).astype(np.int64)
        end = min(int(math.ceil(edges[-1])), self.frames)
        starts = np.minimum(idx[:-1], end - 1)
        first = int(starts[0])
        part = self.samples[first:end]
        starts -= first
        # Reduce along time first (frames x channels at once), channels last: a per-row reduction over
        # 2 channels would cost numpy's per-row overhead for every one of ~300 k frames.
        mins = np.minimum.reduceat(part, starts, axis=0).min(axis=1)
        maxs = np.maximum.reduceat(part, starts, axis=0).max(axis=1)
        sums = np.add.reduceat(part * part, starts, axis=0).sum(axis=1) / part.shape[1]
        counts = np.maximum(np.diff(np.append(starts, len(part))), 1)
        return mins, maxs, np.sqrt(sums / counts).astype(np.float32)


# --- building and caching ----------------------------------------------------------------------------

_CACHE: weakref.WeakKeyDictionary[Any, WaveformPyramid] = weakref.WeakKeyDictionary()
_log = logging.getLogger(__name__)


def cached_pyramid(clip: Any) -> WaveformPyramid | None:
    """The pyramid of an ``AudioClip`` if it was built already (cached for the clip's lifetime)."""
    return _CACHE.get(clip)


def pyramid_for(clip: Any) -> WaveformPyramid:
    """The pyramid of ``clip``, built here (blocking) when not cached."""
    pyramid = _CACHE.get(clip)
    if pyramid is None:
        pyramid = _CACHE[clip] = WaveformPyramid.build(clip.original, clip.original_rate)
    return pyramid


def build_async(clip: Any, done: Callable[[Any, WaveformPyramid], None]) -> threading.Thread:
    """Build the pyramid of ``clip`` on a short-lived worker thread; ``done(clip, pyramid)`` runs on that thread.

    numpy releases the GIL in the reductions, so the GUI keeps drawing meanwhile. ``done`` should
    only post the result to the GUI thread (emit a queued Qt signal). The thread ends with the
    build (no pool lingers after it), and is a daemon so that quitting never waits for it.
    """

    def work() -> None:
        try:
            pyramid = pyramid_for(clip)
        except Exception:  # noqa: BLE001 - the row keeps saying it has no waveform; the log says why
            _log.exception("Could not build the waveform of %s.", getattr(clip, "name", "a clip"))
            return
        done(clip, pyramid)

    thread = threading.Thread(target=work, name="waveform-pyramid", daemon=True)
    thread.start()
    return thread


# --- the waveform row ----------------------------------------------------------------------------------


class WaveformItem(RowItem):
    """The audio row: peak envelope, RMS inside it, normalised to the clip's peak so quiet speech reads too."""

    def __init__(self, state: TimelineState) -> None:
        super().__init__(state)
        self.pyramid: WaveformPyramid | None = None
        self.message = "No audio"
        self._cache: tuple[tuple[float, ...], QImage, np.ndarray] | None = None
        self._argb = (np.uint32(QColor(WAVE_PEAK).rgba()), np.uint32(QColor(WAVE_RMS).rgba()))

    def set_pyramid(self, pyramid: WaveformPyramid | None, message: str = "") -> None:
        self.pyramid, self.message, self._cache = pyramid, message, None
        self.update()

    def render(self, t0: float, t1: float, columns: int, height: float) -> QImage:
        """The waveform of a view as a ``columns`` x ``height`` image: all that a zoom or pan recomputes.

        Rasterised with numpy (one pixel column per envelope column) rather than drawn with
        QPainter: Qt fills a jagged 1300-vertex outline in hundreds of milliseconds and 2600 lines in
        several, while these masks cost about a millisecond and the blit next to nothing.
        """
        columns, rows = max(int(columns), 1), max(int(round(height)), 1)
        key = (t0, t1, float(columns), float(rows))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        assert self.pyramid is not None
        env = self.pyramid.envelope(t0, t1, columns)
        mid, half = rows / 2.0, rows / 2.0 - 2.0
        gain = half * 0.95 / self.pyramid.peak
        upper = np.minimum(mid - env.maxs * gain, mid - 0.5)  # at least 1 px: silence still shows the line
        lower = np.maximum(mid - env.mins * gain, mid + 0.5)
        rms = np.minimum(env.rms * gain, np.minimum(mid - upper, lower - mid))
        y = np.arange(rows, dtype=np.float32)[:, None] + 0.5
        pixels = np.zeros((rows, columns), np.uint32)
        band = pixels[:, env.first:env.first + len(env.mins)]
        band[(y >= upper) & (y <= lower)] = self._argb[0]
        band[(y >= mid - rms) & (y <= mid + rms)] = self._argb[1]
        image = QImage(pixels.data, columns, rows, 4 * columns, QImage.Format.Format_ARGB32_Premultiplied)
        self._cache = (key, image, pixels)  # the image borrows the array's memory
        return image

    def paint_row(self, painter: QPainter, m: TimeMap) -> None:
        self.paint_grid(painter, m)
        mid = (m.top + m.bottom) / 2.0
        painter.setPen(QPen(color(WAVE_AXIS), 0))
        painter.drawLine(QPointF(m.left, round(mid)), QPointF(m.right, round(mid)))
        if self.pyramid is None:
            painter.setFont(small_font())
            painter.setPen(QPen(color(theme.MUTED), 0))
            painter.drawText(QRectF(m.left + 8, m.top, m.width - 16, m.height),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.message)
            return
        image = self.render(m.t0, m.t1, int(round(m.width)), m.height - 1.0)
        painter.drawImage(QPoint(int(round(m.left)), int(round(m.top))), image)


# --- word and phone tracks ---------------------------------------------------------------------------------

_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
_CLOSURES = frozenset("P B M".split())
#: fill, border, text per box kind; kind 0 (silence) is not drawn.
PALETTE = {
    "word": ("#34465c", "#4d6785", "#dfe6ef"),
    "vowel": ("#2e5551", "#417670", "#d9ece9"),
    "consonant": ("#3a3f4b", "#50586a", "#cfd3db"),
    "closure": ("#5c4a2a", "#82683a", "#f1e2c4"),
}


def phone_kind(label: str) -> str:
    """Colour class of a phone: lip closures (P B M) stand out because the animator checks them first."""
    if label == "SIL":
        return ""
    if label in _CLOSURES:
        return "closure"
    return "vowel" if label in _VOWELS else "consonant"


class LabelTrackItem(RowItem):
    """Labelled boxes on time spans (words, phones); labels that do not fit their box are left out."""

    def __init__(self, state: TimelineState) -> None:
        super().__init__(state)
        self._starts = np.empty(0)
        self._ends = np.empty(0)
        self._labels: list[str] = []
        self._kinds: list[str] = []
        self._advance: dict[str, float] = {}

    def set_spans(self, spans: Sequence[tuple[float, float, str, str]]) -> None:
        """``(start, end, label, kind)`` sorted by start; kind "" draws nothing (silence)."""
        kept = [s for s in spans if s[3]]
        self._starts = np.array([s[0] for s in kept], dtype=np.float64)
        self._ends = np.array([s[1] for s in kept], dtype=np.float64)
        self._labels = [s[2] for s in kept]
        self._kinds = [s[3] for s in kept]
        self.update()

    def labels(self) -> list[str]:
        return list(self._labels)

    def visible_labels(self, t0: float, t1: float, width_px: float) -> list[str]:
        """The labels drawn for a view of ``t0 .. t1`` over ``width_px`` pixels (what fits its box)."""
        fm = QFontMetricsF(small_font())
        sx = width_px / max(t1 - t0, 1e-12)
        i0, i1 = self._visible(t0, t1)
        return [self._labels[i] for i in range(i0, i1)
                if self._fits(self._labels[i], (self._ends[i] - self._starts[i]) * sx, fm)]

    def _visible(self, t0: float, t1: float) -> tuple[int, int]:
        return int(np.searchsorted(self._ends, t0, side="right")), int(np.searchsorted(self._starts, t1, side="left"))

    def _fits(self, label: str, width: float, fm: QFontMetricsF) -> bool:
        advance = self._advance.get(label)
        if advance is None:
            advance = self._advance[label] = fm.horizontalAdvance(label)
        return advance + 6.0 <= width

    def paint_row(self, painter: QPainter, m: TimeMap) -> None:
        self.paint_grid(painter, m)
        v0, v1 = self._visible(m.t0, m.t1)
        i0, i1 = self._visible(*m.exposed())
        if i1 <= i0:
            return
        x0s, x1s = m.xs(self._starts[i0:i1]), m.xs(self._ends[i0:i1])
        top, height = m.top + 3.0, m.height - 7.0
        if v1 - v0 > m.width / 3.0:  # denser than a box per 3 px: merged runs, no labels (and no Python loop cost)
            self._paint_dense(painter, x0s, x1s, top, height)
            return
        font = small_font()
        fm = QFontMetricsF(font)
        painter.setFont(font)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for k, (x0, x1) in enumerate(zip(x0s, x1s, strict=True)):
            i = i0 + k
            fill, border, text = PALETTE[self._kinds[i]]
            rect = QRectF(x0 + 0.5, top, max(x1 - x0 - 1.0, 1.0), height)
            painter.setPen(QPen(QColor(border), 1.0) if rect.width() >= 4 else Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(fill)))
            painter.drawRoundedRect(rect, 2.0, 2.0)
            if self._fits(self._labels[i], rect.width(), fm):
                painter.setPen(QPen(QColor(text), 0))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._labels[i])

    def _paint_dense(self, painter: QPainter, x0s: np.ndarray, x1s: np.ndarray, top: float, height: float) -> None:
        breaks = np.flatnonzero(x0s[1:] - x1s[:-1] >= 1.5) + 1
        starts, ends = np.split(x0s, breaks), np.split(x1s, breaks)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(PALETTE["word"][0])))
        runs = zip(starts, ends, strict=True)
        painter.drawRects([QRectF(s[0], top, max(e[-1] - s[0], 1.0), height) for s, e in runs])


def word_spans(track: Any) -> list[tuple[float, float, str, str]]:
    return [(w.start, w.end, w.text, "word") for w in track.words if w.end > w.start]


def phone_spans(track: Any) -> list[tuple[float, float, str, str]]:
    return [(p.start, p.end, p.label, phone_kind(p.label)) for p in track.phones if p.end > p.start]
