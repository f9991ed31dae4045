"""Rig hot path and default-head cache timings, single-threaded. Prints JSON.

    python bench/rig_deform.py [--frames 300]

Budgets (DESIGN 5 and the default head's cache): deform <= 2 ms/frame on one
core, cache build <= 3 s, cache load <= 150 ms. The FLAME numbers use a
synthetic FLAME-format file of FLAME's size (5023 vertices); if the FLAME rig
cannot be imported the result says why instead of failing.
"""

from __future__ import annotations

import os

# One core, as the budget says: set before numpy loads its BLAS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

BUDGET = {"deform_ms_max": 2.0, "cache_build_s_max": 3.0, "cache_load_ms_max": 150.0}


def deform_timing(rig, frames: int, seed: int = 0) -> dict[str, float]:
    """Median and p95 ms of ``rig.deform`` over random in-range frames (after a short warm-up)."""
    rng = np.random.default_rng(seed)
    lo, hi = rig.space.minimums, rig.space.maximums
    params = (lo + (hi - lo) * rng.random((frames, len(lo)))).astype(np.float32)
    for p in params[:20]:
        rig.deform(p)
    times = []
    for p in params:
        start = time.perf_counter()
        rig.deform(p)
        times.append((time.perf_counter() - start) * 1e3)
    return {
        "deform_ms_median": round(statistics.median(times), 4),
        "deform_ms_p95": round(float(np.percentile(times, 95)), 4),
        "frames": frames,
    }


def bench_default_head(frames: int, workdir: Path) -> dict[str, object]:
    from mmface_studio.rig.default_head import load_default_head

    cache_dir = workdir / "default-head-cache"
    start = time.perf_counter()
    rig = load_default_head(cache_dir=cache_dir, rebuild=True)
    build_s = time.perf_counter() - start
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        cached = load_default_head(cache_dir=cache_dir)
        loads.append((time.perf_counter() - start) * 1e3)
        assert cached.cache_info["from_cache"], "second load did not come from the cache"
    return {
        "vertices": rig.vertex_count,
        "faces": rig.face_count,
        "parts": {p.name: int(len(p.faces)) for p in rig.parts},
        "joints": [j.name for j in rig.joints],
        "cache_build_s": round(build_s, 3),
        "cache_load_ms": round(statistics.median(loads), 2),
        "cache_bytes": sum(p.stat().st_size for p in cache_dir.iterdir()),
        **deform_timing(rig, frames),
    }


def bench_flame(frames: int, workdir: Path) -> dict[str, object]:
    try:
        from mmface_studio.rig.flame import load_flame_rig
        from mmface_studio.rig.flame.synthetic import write_synthetic_flame
    except Exception as exc:  # noqa: BLE001 - report, do not fail the whole bench
        return {"error": f"FLAME rig unavailable: {type(exc).__name__}: {exc}"}
    try:
        path = write_synthetic_flame(workdir / "generic_model.pkl", vertex_count_hint=5023)
        start = time.perf_counter()
        rig = load_flame_rig(path)
        load_ms = (time.perf_counter() - start) * 1e3
        return {
            "source": "synthetic FLAME-format file",
            "vertices": rig.vertex_count,
            "faces": rig.face_count,
            "load_ms": round(load_ms, 2),
            **deform_timing(rig, frames),
        }
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="random frames per rig (>= 200)")
    args = parser.parse_args()
    frames = max(args.frames, 200)
    with tempfile.TemporaryDirectory(prefix="mmface-bench-") as tmp:
        workdir = Path(tmp)
        head = bench_default_head(frames, workdir)
        flame = bench_flame(frames, workdir)
    result = {
        "threads": 1,
        "default_head": head,
        "flame": flame,
        "budget": BUDGET,
        "within_budget": {
            "default_head_deform": head["deform_ms_median"] <= BUDGET["deform_ms_max"],
            "default_head_cache_build": head["cache_build_s"] <= BUDGET["cache_build_s_max"],
            "default_head_cache_load": head["cache_load_ms"] <= BUDGET["cache_load_ms_max"],
            "flame_deform": ("deform_ms_median" in flame and flame["deform_ms_median"] <= BUDGET["deform_ms_max"]),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
