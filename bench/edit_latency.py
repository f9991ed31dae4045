"""Edit latency in the real window: emotion keyframe drag -> new frame on screen, for a 60 s clip.

Each drag step goes the whole way a user's drag does: the curve editor pushes the merged command,
the document fires "emotion", the controller re-runs the engine's emotion stage, the base is
replaced, and the viewport deforms and paints the frame under the playhead. Also reports the
playback A/V drift over 60 s from ``bench/playback_drift.py`` when a PulseAudio server can be
started (``--drift``). Run under an X server; prints JSON. Budget: <= 50 ms per drag step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "speech" / "dev"


def sixty_seconds() -> tuple[np.ndarray, str]:
    """About 60 s of real speech (dev clips joined) and the joined transcript."""
    import csv

    from mmface_studio.audio import load_audio

    rows = list(csv.DictReader(open(DEV / "clips.tsv"), delimiter="\t"))
    parts, words, total = [], [], 0.0
    while total < 60.0:
        for row in rows:
            clip = load_audio(DEV / row["wav16k"])
            parts.append(clip.analysis)
            words.append(row["transcript"])
            total += clip.duration
            if total >= 60.0:
                break
    return np.concatenate(parts), " ".join(words)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--drift", action="store_true", help="also run bench/playback_drift.py (60 s)")
    args = parser.parse_args()

    from mmface_studio.ui.app import create_app

    app = create_app()
    from mmface_studio.audio import clip_from_array
    from mmface_studio.core.document import AddEmotionKey, EmotionKey, SetAudio, SetProperty
    from mmface_studio.rig.default_head import load_default_head
    from mmface_studio.ui.main_window import MainWindow

    window = MainWindow()
    window.resize(1440, 900)
    window.show()
    window.set_rig(load_default_head())
    c = window.controller
    audio, transcript = sixty_seconds()
    c.stack.push(SetAudio(c.project, clip_from_array(audio, 16000, name="dev clips")))
    c.stack.push(SetProperty(c.project, "transcript", transcript))
    started = time.perf_counter()
    c.generate()
    while c.busy:
        app.processEvents()
        time.sleep(0.01)
    generate_s = time.perf_counter() - started
    window.transport.pause()
    window.transport.seek(int(30 * c.project.fps))
    c.stack.push(AddEmotionKey(c.project, EmotionKey.of(30.0, happiness=0.2)))
    plot = window.timeline.emotion_editor.plot
    handle = ("happiness", 30.0)
    before = c.stack.index
    plot.begin_key_drag(handle)
    steps = []
    for i in range(args.steps):
        value = 0.2 + 0.7 * (i % 40) / 40.0
        t0 = time.perf_counter()
        plot.drag_keys_to(30.0, value)
        window.viewport.surface_widget.repaint() if hasattr(window.viewport, "surface_widget") else None
        app.processEvents()
        steps.append((time.perf_counter() - t0) * 1e3)
    plot.end_drag()
    result = {
        "clip_seconds": round(len(audio) / 16000, 1),
        "generate_s": round(generate_s, 2),
        "drag_steps": len(steps),
        "drag_to_frame_ms_median": round(statistics.median(steps), 2),
        "drag_to_frame_ms_p95": round(sorted(steps)[int(0.95 * len(steps))], 2),
        "undo_steps_for_the_drag": c.stack.index - before,
        "voice_prior_overlay_drawn": window.timeline.emotion_editor.has_priors,
        "budget_ms": 50,
        "viewport_path": getattr(window.viewport, "path", "?"),
        "load_avg": os.getloadavg(),
    }
    c.stack.set_clean()
    window.close()
    if args.drift:
        out = subprocess.run([sys.executable, str(REPO / "bench" / "playback_drift.py")], capture_output=True,
                             text=True, timeout=300)
        result["playback_drift"] = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-400:]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
