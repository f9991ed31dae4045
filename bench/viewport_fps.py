"""Viewport playback speed: deform + normals + upload + draw per frame, at 1280x720.

Run under an X server (e.g. ``xvfb-run -a -s "-screen 0 1920x1080x24" python bench/viewport_fps.py``).
Prints JSON. Budget (DESIGN 5): >= 60 fps with software GL; deform <= 2 ms/frame.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--flame", help="bench a FLAME file instead of the built-in head")
    args = parser.parse_args()

    from mmface_studio.ui.app import create_app

    qt_app = create_app()
    from PySide6.QtWidgets import QApplication

    from mmface_studio.core.tour import expression_tour
    from mmface_studio.rig.loading import load_rig
    from mmface_studio.rig.skinning import vertex_normals
    from mmface_studio.ui.viewport.widget import HeadViewport

    rig = load_rig(args.flame)
    perf = expression_tour(rig.space)
    viewport = HeadViewport()
    viewport.resize(1280, 720)
    viewport.show()
    viewport.set_rig(rig)
    for _ in range(20):
        QApplication.processEvents()
    deform_ms, normals_ms, frame_ms = [], [], []
    canvas = viewport.canvas
    start = time.perf_counter()
    for i in range(args.frames):
        t0 = time.perf_counter()
        params = perf.frame(i % perf.frame_count)
        verts = rig.deform(params)
        t1 = time.perf_counter()
        vertex_normals(verts, rig.faces)
        t2 = time.perf_counter()
        viewport.show_vertices(verts)
        canvas.native.repaint()  # synchronous paint: upload + draw + swap
        qt_app.processEvents()
        t3 = time.perf_counter()
        deform_ms.append((t1 - t0) * 1e3)
        normals_ms.append((t2 - t1) * 1e3)
        frame_ms.append((t3 - t0) * 1e3)
    total = time.perf_counter() - start
    size = canvas.size
    result = {
        "rig": rig.name,
        "vertices": rig.vertex_count,
        "triangles": rig.face_count,
        "canvas_px": list(size),
        "frames": args.frames,
        "fps": round(args.frames / total, 1),
        "frame_ms_median": round(statistics.median(frame_ms), 2),
        "frame_ms_p95": round(sorted(frame_ms)[int(0.95 * len(frame_ms))], 2),
        "deform_ms_median": round(statistics.median(deform_ms), 3),
        "normals_ms_median": round(statistics.median(normals_ms), 3),
        "budget": {"fps_min": 60, "deform_ms_max": 2.0},
    }
    viewport.close_canvas()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
