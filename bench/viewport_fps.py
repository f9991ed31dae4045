"""Viewport playback speed: deform + normals + upload + draw + present per frame, at 1280x720.

Run under an X server (e.g. ``DISPLAY=:99 python bench/viewport_fps.py``; or
``xvfb-run -a -s "-screen 0 1920x1080x24" python bench/viewport_fps.py``). Prints JSON.
Budget (DESIGN 5): >= 60 fps with software GL; deform <= 2 ms/frame.

Each frame is what playback does: deform the rig, ``show_vertices`` (normals + buffer upload),
then a synchronous repaint of the viewport (draw + getting the pixels on screen) and one
event-loop turn. ``normals_ms`` is timed on a separate call outside the frame, so it is not
counted twice. ``fps`` is the median over runs of 1000 / mean frame time. Other processes
share the CPU, so the load average is reported with the numbers.

``--path both`` measures the direct (QOpenGLWidget) and offscreen (EGL) paths in alternating
subprocesses, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def measure(path: str, frames: int, runs: int, flame: str | None, size: tuple[int, int]) -> dict:
    """Run ``runs`` passes of ``frames`` frames in this process on one viewport."""
    if path != "auto":
        os.environ["MMFACE_VIEWPORT"] = path
    from mmface_studio.ui.app import create_app

    qt_app = create_app()
    from mmface_studio.core.tour import expression_tour
    from mmface_studio.rig.loading import load_rig
    from mmface_studio.rig.skinning import vertex_normals
    from mmface_studio.ui.viewport.widget import HeadViewport

    rig = load_rig(flame)
    perf = expression_tour(rig.space)
    viewport = HeadViewport()
    viewport.resize(*size)
    viewport.show()
    viewport.set_rig(rig)
    surface = viewport.surface_widget
    for _ in range(20):
        qt_app.processEvents()
    renderer = viewport.gl_renderer()
    fps_runs, frame_ms, deform_ms, normals_ms, loads = [], [], [], [], [_load()]
    frame = 0
    for _ in range(runs):
        for _ in range(30):  # warm-up frames, not counted
            viewport.show_vertices(rig.deform(perf.frame(frame % perf.frame_count)))
            surface.repaint()
            qt_app.processEvents()
            frame += 1
        run_ms = []
        for _ in range(frames):
            t0 = time.perf_counter()
            verts = rig.deform(perf.frame(frame % perf.frame_count))
            t1 = time.perf_counter()
            viewport.show_vertices(verts)
            surface.repaint()  # synchronous paint: upload + draw + present
            qt_app.processEvents()
            t2 = time.perf_counter()
            vertex_normals(verts, rig.faces)
            t3 = time.perf_counter()
            deform_ms.append((t1 - t0) * 1e3)
            run_ms.append((t2 - t0) * 1e3)
            normals_ms.append((t3 - t2) * 1e3)
            frame += 1
        frame_ms += run_ms
        fps_runs.append(round(1000.0 / statistics.fmean(run_ms), 1))
        loads.append(_load())
    canvas_px = list(viewport.canvas.physical_size)
    viewport.close_canvas()
    return {
        "path": viewport.path,
        "gl_renderer": renderer,
        "rig": rig.name,
        "vertices": rig.vertex_count,
        "triangles": rig.face_count,
        "canvas_px": canvas_px,
        "frames_per_run": frames,
        "runs": runs,
        "fps": statistics.median(fps_runs),
        "fps_runs": fps_runs,
        "frame_ms_median": round(statistics.median(frame_ms), 2),
        "frame_ms_p95": round(_percentile(frame_ms, 0.95), 2),
        "deform_ms_median": round(statistics.median(deform_ms), 3),
        "normals_ms_median": round(statistics.median(normals_ms), 3),
        "load_avg_1min": loads,
        "cpu_count": os.cpu_count(),
        "budget": {"fps_min": 60, "deform_ms_max": 2.0},
    }


def compare(args: argparse.Namespace) -> dict:
    """Alternate direct and offscreen runs in fresh processes; report each path's median."""
    results: dict[str, list[dict]] = {"direct": [], "offscreen": []}
    for _ in range(args.runs):
        for path in results:
            cmd = [sys.executable, __file__, "--path", path, "--runs", "1", "--frames", str(args.frames),
                   "--size", args.size]
            if args.flame:
                cmd += ["--flame", args.flame]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[path].append(json.loads(out))
    summary = {}
    for path, runs in results.items():
        first = runs[0]
        summary[path] = {
            "path": first["path"],
            "gl_renderer": first["gl_renderer"],
            "canvas_px": first["canvas_px"],
            "fps": statistics.median(r["fps"] for r in runs),
            "fps_runs": [r["fps"] for r in runs],
            "frame_ms_median": statistics.median(r["frame_ms_median"] for r in runs),
            "frame_ms_p95": statistics.median(r["frame_ms_p95"] for r in runs),
            "deform_ms_median": statistics.median(r["deform_ms_median"] for r in runs),
            "normals_ms_median": statistics.median(r["normals_ms_median"] for r in runs),
            "load_avg_1min": [r["load_avg_1min"][-1] for r in runs],
        }
    summary["frames_per_run"] = args.frames
    summary["cpu_count"] = os.cpu_count()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per run (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="runs; fps is their median (default 3)")
    parser.add_argument("--path", choices=("auto", "direct", "offscreen", "both"), default="auto",
                        help="viewport path; auto = what the app would pick on this machine")
    parser.add_argument("--size", default="1280x720", help="viewport size WxH (default 1280x720)")
    parser.add_argument("--flame", help="bench a FLAME file instead of the built-in head")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.path == "both":
        result = compare(args)
    else:
        result = measure(args.path, args.frames, args.runs, args.flame, (width, height))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
