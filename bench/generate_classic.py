"""Classic engine stage timings for 60 s of speech (synthetic phone track + energy; no audio, no pocketsphinx).

Prints JSON. Budgets (DESIGN 5, on this machine's CPU): everything except pocketsphinx <= 0.6 s for
60 s (this bench covers the engine stages; the audio features and the real-audio end-to-end run are
benched separately), an emotion edit <= 50 ms, a head-pose re-sample <= 300 ms.

    python bench/generate_classic.py [--seconds 60] [--repeats 7] [--fps 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()

    from mmface_studio.engine import EmotionTrack, GenerationRequest, Pipeline, PoseLock, synthetic_analysis

    analysis = synthetic_analysis(args.seconds, seed=0)
    request = GenerationRequest(emotion="happiness:0.6@0,sadness:0.5@20,anger:0.7@40", pose_style="animated",
                                fps=args.fps)
    stages: dict[str, list[float]] = {}
    cold: list[float] = []
    edit: list[float] = []
    resample: list[float] = []
    for k in range(args.repeats):
        pipeline = Pipeline()
        started = time.perf_counter()
        perf = pipeline.run(request, analysis=analysis)
        cold.append(time.perf_counter() - started)
        for stage, seconds in pipeline.last_timings.items():
            stages.setdefault(stage, []).append(seconds)

        edited = dataclasses.replace(request, emotion=EmotionTrack.parse(f"happiness:0.6@0,fear:0.{k + 1}@{10 + k}"))
        started = time.perf_counter()
        pipeline.run(edited, analysis=analysis)
        edit.append(time.perf_counter() - started)

        resampled = dataclasses.replace(edited, pose_seed=100 + k, locks=(PoseLock(10.0, 20.0),))
        started = time.perf_counter()
        pipeline.run(resampled, analysis=analysis)
        resample.append(time.perf_counter() - started)

    def ms(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(1e3 * statistics.median(values), 2), "best_ms": round(1e3 * min(values), 2)}

    report = {
        "bench": "generate_classic",
        "input": {"seconds": args.seconds, "fps": args.fps, "frames": perf.frame_count,
                  "phones": len(analysis.phones), "source": "synthetic_analysis (no audio)"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
        "stages_cold": {stage: ms(values) for stage, values in stages.items()},
        "full_cold": {**ms(cold), "budget_ms": 600.0, "within_budget": statistics.median(cold) <= 0.6},
        "emotion_edit": {**ms(edit), "budget_ms": 50.0, "within_budget": statistics.median(edit) <= 0.05},
        "pose_resample": {**ms(resample), "budget_ms": 300.0, "within_budget": statistics.median(resample) <= 0.3},
        "note": "analysis is given (synthetic), so its time is ~0 here; audio features + pocketsphinx are "
                "outside this bench.",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
