"""Benchmark: one drag step in the curve editors on a 60 s clip; prints JSON.

A drag must feel live: every mouse move pushes a (merging) command, the document re-evaluates,
the editor redraws the changed curves and Qt repaints the plot -- all within one 60 Hz frame
(16 ms). Timed per step, in milliseconds, through the same code path the mouse drives
(``KeyframePlot.drag_keys_to``):

- ``edit``: push the command + the editor's redraw of the changed curves (synchronous, via the
  project's change event);
- ``evaluate``: the document's evaluation the viewport reads (``project.evaluate()`` for a channel
  edit; the emotion track sampled at every frame for an emotion edit);
- ``paint``: a synchronous repaint of the plot (``viewport().repaint()``);
- ``total``: all three.

Usage: DISPLAY=:99 python bench/curve_editor_drag.py [--seconds 60] [--steps 300]
(without a display, Qt's offscreen platform is used).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUDGET_MS = 16.0


def _stats(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in samples_s)
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
            "max_ms": round(ms[-1], 3)}


def _project(seconds: float):
    from mmface_studio.core.document import Curve, CurveKey, EmotionKey, EmotionTrack, Project
    from mmface_studio.engine import GenerationRequest, generate, synthetic_analysis

    base = generate(GenerationRequest(), analysis=synthetic_analysis(seconds, seed=0))
    keys = [EmotionKey.of(float(t), happiness=0.5, neutral=0.3) for t in range(0, int(seconds), 5)]
    jaw = Curve(tuple(CurveKey(float(t), 0.1 * math.sin(t)) for t in range(1, int(seconds), 4)))
    return Project(base=base, emotion=EmotionTrack(tuple(keys)), layers={"jawOpen": jaw})


def _drag(app, plot, handle, steps: int, evaluate) -> dict[str, object]:
    """Drag ``handle`` back and forth for ``steps`` mouse moves; time each step."""
    edit, ev, paint, total = [], [], [], []
    t0, v0 = handle[1], plot.key_value(handle)
    plot.begin_key_drag(handle)
    for i in range(1, steps + 1):
        target_t = t0 + 0.8 * math.sin(i / 9.0)
        target_v = v0 + 0.2 * math.sin(i / 7.0)
        a = time.perf_counter()
        plot.drag_keys_to(target_t, target_v)
        b = time.perf_counter()
        evaluate()
        c = time.perf_counter()
        plot.viewport().repaint()
        d = time.perf_counter()
        edit.append(b - a)
        ev.append(c - b)
        paint.append(d - c)
        total.append(d - a)
        app.processEvents()
    plot.end_drag()
    return {"edit": _stats(edit), "evaluate": _stats(ev), "paint": _stats(paint), "total": _stats(total)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=300)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import PySide6

    from mmface_studio.core.document import UndoStack
    from mmface_studio.ui.app import create_app
    from mmface_studio.ui.timeline.channel_editor import ChannelCurveEditor
    from mmface_studio.ui.timeline.emotion_editor import EmotionCurveEditor

    app = create_app()
    project, stack = _project(args.seconds), UndoStack()
    emotion = EmotionCurveEditor(project, stack)
    channels = ChannelCurveEditor(project, stack, channels=["jawOpen", "mouthSmileLeft", "browInnerUp"])
    results: dict[str, object] = {}
    for name, editor, handle, evaluate in (
        ("emotion", emotion, ("happiness", 30.0), lambda: project.emotion.sample(project.frame_times())),
        ("channel", channels, ("jawOpen", 29.0), project.evaluate),
    ):
        editor.resize(args.width, args.height)
        editor.show()
        for _ in range(5):
            app.processEvents()
        steps_before = len(stack)
        results[name] = _drag(app, editor.plot, handle, args.steps, evaluate)
        results[name]["undo_steps_added"] = len(stack) - steps_before  # type: ignore[index]
        editor.hide()
    worst = max(r["total"]["p95_ms"] for r in results.values())  # type: ignore[index]
    print(json.dumps({
        "benchmark": "curve_editor_drag", "clip_seconds": args.seconds, "fps": project.fps, "steps": args.steps,
        "plot_size": [args.width, args.height], "platform": os.environ.get("QT_QPA_PLATFORM", "xcb"),
        "python": platform.python_version(), "pyside": PySide6.__version__, "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2), **results,
        "budget_ms": BUDGET_MS, "within_budget": worst <= BUDGET_MS,
    }, indent=2))
    for editor in (emotion, channels):
        editor.close()


if __name__ == "__main__":
    main()
