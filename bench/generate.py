"""End-to-end generation timing on 60 s of real speech (the DESIGN 5 budgets); prints JSON.

The dev recordings (../shared/speech/dev/wav16k, 56 s in all) are concatenated, repeating from
the first, to at least 60 s; the alignment variant gets their transcripts joined in the same
order. Per variant, the median of ``--runs`` runs of a fresh ``Pipeline`` (cold stage caches;
the pocketsphinx decoders are built once beforehand, as in the app, where they outlive
pipelines):

- ``total_s``: the whole ``Pipeline.run`` (16 kHz samples in, arkit52 performance out);
- ``analysis_s``: the analysis stage: features (also timed alone as ``features_s``) + pocketsphinx;
- ``rest_s``: total minus analysis, i.e. the engine stages; budget 0.6 s for 60 s;
- ``emotion_edit_s``: a changed emotion track on the warm pipeline; budget 50 ms;
- ``pose_resample_s``: a new pose seed on the warm pipeline; budget 300 ms.

Thread settings (BLAS/OpenMP environment, CPUs this process may use) and the load average
before and after are reported, because timings on two shared cores move with both.

    python bench/generate.py [--shared PATH] [--runs 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmface_studio.engine import EmotionTrack, GenerationRequest, Pipeline  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
BUDGETS_S = {"rest_s": 0.6, "emotion_edit_s": 0.05, "pose_resample_s": 0.3}


def minute_of_speech(dev: Path, seconds: float) -> tuple[np.ndarray, str, list[str]]:
    """Dev clips end to end (repeating from the first) until ``seconds``; their transcripts joined."""
    import soundfile as sf

    rows = list(csv.DictReader((dev / "clips.tsv").open(), delimiter="\t"))
    parts, words, used = [], [], []
    total = 0
    k = 0
    while total < seconds * 16000:
        row = rows[k % len(rows)]
        audio, rate = sf.read(dev / row["wav16k"], dtype="float32")
        if rate != 16000:
            raise SystemExit(f"{row['wav16k']} is not 16 kHz")
        parts.append(audio)
        words.append(row["transcript"])
        used.append(row["id"])
        total += len(audio)
        k += 1
    return np.concatenate(parts), " ".join(words), used


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def bench_variant(audio: np.ndarray, transcript: str | None, runs: int) -> dict[str, Any]:
    from mmface_studio.audio import compute_features

    request = GenerationRequest(audio=audio, transcript=transcript, emotion="happiness:0.6@0,sadness:0.5@20",
                                pose_style="animated")
    rows: dict[str, list[float]] = {k: [] for k in ("total_s", "analysis_s", "features_s", "rest_s",
                                                   "emotion_edit_s", "pose_resample_s")}
    stages: dict[str, list[float]] = {}
    mode = fallback = None
    for k in range(runs):
        _, features_s = timed(compute_features, audio)
        pipeline = Pipeline()
        perf, total = timed(pipeline.run, request)
        analysis = pipeline.last_timings["analysis"]
        mode, fallback = pipeline.last_analysis.mode, pipeline.last_analysis.fallback_reason
        for stage, seconds in pipeline.last_timings.items():
            stages.setdefault(stage, []).append(seconds)
        edited = dataclasses.replace(request, emotion=EmotionTrack.parse(f"happiness:0.6@0,anger:0.{k + 3}@{10 + k}"))
        _, edit = timed(pipeline.run, edited)
        assert pipeline.stage_runs["lipsync"] == 1 and pipeline.stage_runs["emotion"] == 2
        _, pose = timed(pipeline.run, dataclasses.replace(edited, pose_seed=100 + k))
        assert pipeline.stage_runs["pose"] == 2
        for key, value in (("total_s", total), ("analysis_s", analysis), ("features_s", features_s),
                           ("rest_s", total - analysis), ("emotion_edit_s", edit), ("pose_resample_s", pose)):
            rows[key].append(value)
    out: dict[str, Any] = {"phonetic_mode": mode, "fallback_reason": fallback, "frames": perf.frame_count}
    for key, values in rows.items():
        out[key] = {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
                    "max": round(max(values), 4)}
        if key in BUDGETS_S:
            out[key]["budget"] = BUDGETS_S[key]
            out[key]["within_budget"] = statistics.median(values) <= BUDGETS_S[key]
    out["stages_median_s"] = {s: round(statistics.median(v), 4) for s, v in stages.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    dev = args.shared / "speech" / "dev"
    if not (dev / "clips.tsv").exists():
        print(json.dumps({"bench": "generate", "skipped": f"{dev} not found"}))
        return

    from mmface_studio.audio.phonetic_decoder import shared_decoder

    audio, transcript, used = minute_of_speech(dev, args.seconds)
    load_before = os.getloadavg()
    build = {}
    for kind in ("align", "words"):  # built once per process in the app too; not part of a generation
        started = time.perf_counter()
        with shared_decoder(kind):
            build[kind] = time.perf_counter() - started
    # Warm imports and first-call costs (scipy, numpy kernels) on a short clip.
    Pipeline().run(GenerationRequest(audio=audio[: 3 * 16000]))

    report = {
        "bench": "generate",
        "input": {"seconds": round(len(audio) / 16000, 2), "clips": used, "transcript_words": len(transcript.split()),
                  "source": str(dev / "wav16k")},
        "machine": {
            "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None, "python": platform.python_version(), "processor": platform.machine(),
            "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},
        },
        "decoder_build_s": {k: round(v, 3) for k, v in build.items()},
        "runs": args.runs,
        "recognition": bench_variant(audio, None, args.runs),
        "alignment": bench_variant(audio, transcript, args.runs),
    }
    report["machine"]["load_avg_before"] = [round(x, 2) for x in load_before]
    report["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
