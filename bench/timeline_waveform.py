"""Benchmark: the timeline's waveform on a 10-minute 48 kHz stereo clip; prints JSON.

Timed, in milliseconds:
- ``pyramid_build``: reducing the clip into the min/max/energy pyramid (done once per clip, on the
  worker thread above ``SYNC_SAMPLES``), and the same for a clip of ``SYNC_SAMPLES`` samples (what
  the GUI thread may pay synchronously; the brief's budget is 50 ms);
- ``render``: what a zoom or pan recomputes for the waveform row (envelope per pixel column,
  rasterised into the row's image), over a sequence of zooms from the whole clip down to 1 s and pans at each zoom;
- ``repaint``: a full synchronous repaint of the widget (all rows: ruler, flags, waveform, a dense
  10-minute word/phone track, overlays) after each zoom/pan step, i.e. what the user waits for.

Usage: DISPLAY=:99 python bench/timeline_waveform.py [--seconds 600] [--width 1400] [--runs 3]
(without a display, Qt's offscreen platform is used).

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every call of a method returning
void (6.11.3 does not; from CPython 3.12 ``None`` is immortal), so a process that paints a few
hundred frames aborts with "none_dealloc". When that bug is detected, this script props up
``None``'s reference count so that the measurement can finish, and says so in its output
(``pyside_none_refcount_bug``); the product itself needs a PySide6 without the bug.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _stats(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in samples_s)
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
            "max_ms": round(ms[-1], 3), "count": len(ms)}


def _bursts(seconds: float, rate: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    t = np.arange(n, dtype=np.float32) / rate
    envelope = (0.05 + 0.6 * np.exp(-8.0 * (t % 0.5))).astype(np.float32)
    return rng.standard_normal((n, channels), dtype=np.float32) * 0.3 * envelope[:, None]


def _track(seconds: float):
    """A dense synthetic word/phone track: a 3-phone word every 0.4 s, silence between."""
    from mmface_studio.audio.phonetic_track import Phone, PhoneticTrack, Word

    words, phones, t = [], [], 0.0
    while t + 0.4 <= seconds:
        words.append(Word("word", t + 0.05, t + 0.35))
        phones += [Phone("SIL", t, t + 0.05), Phone("W", t + 0.05, t + 0.15, len(words) - 1),
                   Phone("ER", t + 0.15, t + 0.25, len(words) - 1), Phone("D", t + 0.25, t + 0.35, len(words) - 1),
                   Phone("SIL", t + 0.35, t + 0.4)]
        t += 0.4
    return PhoneticTrack(tuple(phones), tuple(words), "alignment", seconds)


def _guard_none_refcount() -> bool:
    """True if PySide6 leaks ``None`` references here; then pins ``None`` (see the module docstring)."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QRectF

    rect, before = QRectF(), sys.getrefcount(None)
    for _ in range(100):
        rect.setWidth(1.0)
    if sys.getrefcount(None) > before - 50:
        return False
    for singleton in (None, True, False):  # bool-returning methods leak True/False the same way
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40
    return True


def _views(seconds: float) -> list[tuple[float, float]]:
    views = []
    for span in np.geomspace(seconds, 1.0, 12):
        for start in np.linspace(0.0, seconds - span, 8):
            views.append((float(start), float(start + span)))
    return views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from mmface_studio.audio.clip import clip_from_array
    from mmface_studio.core.document import Project, UndoStack
    from mmface_studio.ui.app import create_app
    from mmface_studio.ui.timeline.timeline_view import TimelineView
    from mmface_studio.ui.timeline.waveform import SYNC_SAMPLES, WaveformPyramid

    app = create_app()
    none_bug = _guard_none_refcount()
    samples = _bursts(args.seconds, args.rate, 2)
    builds = []
    for _ in range(args.runs):
        tic = time.perf_counter()
        WaveformPyramid.build(samples, args.rate)
        builds.append(time.perf_counter() - tic)
    small = samples[: SYNC_SAMPLES // 2]
    sync_builds = []
    for _ in range(args.runs):
        tic = time.perf_counter()
        WaveformPyramid.build(small, args.rate)
        sync_builds.append(time.perf_counter() - tic)

    clip = clip_from_array(samples, args.rate, name="bench")
    del samples
    view = TimelineView(Project(audio=clip, fps=30.0), UndoStack())
    view.resize(args.width, 260)
    view.set_phonetic_track(_track(args.seconds))
    view.show()
    deadline = time.perf_counter() + 60
    while not view.waveform_ready() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()
    box = view.x_view_box()
    columns, height = int(box.width()), box.height()
    renders, repaints = [], []
    for t0, t1 in _views(args.seconds):
        tic = time.perf_counter()
        view.waveform.render(t0, t1, columns, height)
        renders.append(time.perf_counter() - tic)
        view.set_visible_range(t0, t1)
        tic = time.perf_counter()
        view.graphics.viewport().repaint()
        repaints.append(time.perf_counter() - tic)
    result = {
        "benchmark": "timeline_waveform",
        "clip": {"seconds": args.seconds, "rate": args.rate, "channels": 2, "samples": int(clip.original.size)},
        "widget_px": [args.width, 260], "waveform_columns": columns,
        "pyramid_build": {**_stats(builds), "levels": len(view.waveform.pyramid.levels)},
        "pyramid_build_sync_limit": {"samples": SYNC_SAMPLES, **_stats(sync_builds)},
        "render": _stats(renders),
        "repaint": _stats(repaints),
        "budget_ms": 50,
        "pyside_none_refcount_bug": none_bug,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "qpa": app.platformName(),
                    "pyside6": __import__("PySide6").__version__},
    }
    view.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
