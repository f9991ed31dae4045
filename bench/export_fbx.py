"""FBX export timing: 60 s at 30 fps on the built-in head. Prints JSON.

    python bench/export_fbx.py [--seconds 60] [--repeats 5]

Budget (DESIGN 5): FBX export of 60 s <= 1 s. The whole ``write_to_file`` is timed: sampling the
rig per frame, building the node tree, zlib, and the atomic write (temp file, fsync, rename).
Every channel moves on every frame (smooth waves), which is the least compressible case.
The zlib levels the exporter can use are compared too (level 1 is its default).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

BUDGET_S = 1.0


def _performance(seconds: float, fps: float):
    from mmface_studio.core.performance import Performance
    from mmface_studio.core.spaces import ARKIT52

    t = np.arange(int(round(seconds * fps))) / fps
    rows = np.arange(len(ARKIT52))[:, None]
    wave = 0.5 + 0.5 * np.sin(t[None] * (0.7 + 0.13 * rows) + rows)
    lo, hi = ARKIT52.minimums[:, None], ARKIT52.maximums[:, None]
    return Performance(fps, ARKIT52, (lo + (hi - lo) * wave * 0.9).astype(np.float32))


def _time_export(perf, rig, path: Path, repeats: int, level: int) -> tuple[list[float], int]:
    from mmface_studio.export.fbx import FbxOptions, write_to_file

    options = FbxOptions(compression=level)
    write_to_file(perf, rig, path, options)  # warm-up (imports, first-touch allocations)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        write_to_file(perf, rig, path, options)
        times.append(time.perf_counter() - start)
    return times, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from mmface_studio.rig.default_head import load_default_head

    with tempfile.TemporaryDirectory(prefix="mmface-bench-fbx-") as tmp:
        work = Path(tmp)
        rig = load_default_head(cache_dir=work / "default-head-cache")
        perf = _performance(args.seconds, args.fps)
        levels = {}
        for level in (1, 6):
            times, size = _time_export(perf, rig, work / f"head-{level}.fbx", args.repeats, level)
            levels[str(level)] = {"export_s_median": round(statistics.median(times), 4),
                                  "export_s_min": round(min(times), 4), "file_bytes": size}
    default = levels["1"]
    print(json.dumps({
        "bench": "export_fbx",
        "clip_s": args.seconds,
        "fps": args.fps,
        "frames": perf.frame_count,
        "vertices": rig.vertex_count,
        "blendshapes": len(rig.blendshape_names),
        "joints": len(rig.joints),
        "export_s_median": default["export_s_median"],
        "export_s_min": default["export_s_min"],
        "file_bytes": default["file_bytes"],
        "file_mb": round(default["file_bytes"] / 1e6, 3),
        "repeats": args.repeats,
        "zlib_levels": levels,
        "budget_s": BUDGET_S,
        "within_budget": default["export_s_median"] <= BUDGET_S,
    }, indent=2))


if __name__ == "__main__":
    main()
