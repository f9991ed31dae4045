"""Benchmark: load + validate + resample + features for 60 s of speech; prints JSON.

The real dev recordings (../shared/speech/dev/wav16k) are concatenated to 60 s when present,
otherwise a synthetic voice is used. Three inputs are timed, median of 5 runs each:
a 16 kHz mono WAV (no resampling), a 44.1 kHz stereo WAV (the common "exported from a DAW"
case) and a 48 kHz MP3 (decoder cost). Stage timings split loading (decode + validation),
resampling and features; ``total_s`` is what ``load_audio`` + ``compute_features`` cost.

Usage: python bench/audio_features.py [--runs 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmface_studio.audio import clip as clip_module  # noqa: E402
from mmface_studio.audio import compute_features, load_audio  # noqa: E402
from mmface_studio.audio.features import HOP, WIN, _frames, _pitch, log_mel  # noqa: E402

SPEECH = Path(__file__).resolve().parents[2] / "shared" / "speech" / "dev" / "wav16k"


def speech_16k(seconds: float) -> tuple[np.ndarray, str]:
    """Concatenated real recordings (or a synthetic voice when they are absent), 16 kHz mono."""
    n = int(seconds * 16000)
    paths = sorted(SPEECH.glob("*.wav")) if SPEECH.is_dir() else []
    if paths:
        parts = [sf.read(str(p), dtype="float32")[0] for p in paths]
        x = np.concatenate(parts)
        x = np.tile(x, int(np.ceil(n / x.shape[0])))[:n]
        return x, f"{len(paths)} dev recordings from {SPEECH}, repeated to {seconds:.0f} s"
    t = np.arange(n) / 16000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32), "synthetic voice (dev recordings absent)"


CPU_TIMES: dict[str, float] = {}


def timed(fn, runs: int, key: str = "") -> tuple[float, object]:
    """Median wall time of ``runs`` calls after a warm-up; the median CPU time goes to CPU_TIMES.

    On a shared machine the wall time includes waiting for other processes; the CPU time of
    this (mostly single-threaded) work is the better estimate of the uncontended cost.
    """
    fn()  # warm-up: imports, filter design caches, page cache
    walls, cpus, result = [], [], None
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    if key:
        CPU_TIMES[key] = round(statistics.median(cpus), 4)
    return statistics.median(walls), result


def bench_file(path: Path, runs: int) -> dict[str, object]:
    total, _ = timed(lambda: compute_features(load_audio(path)), runs, "total")
    load, clip = timed(lambda: load_audio(path), runs, "load")
    mono = np.ascontiguousarray(clip.original.mean(axis=1, dtype=np.float32))
    resample_s, _ = timed(lambda: clip_module.resample(mono, clip.original_rate), runs, "resample")
    features_s, feats = timed(lambda: compute_features(clip), runs, "features")
    return {
        "file": f"{clip.format} {clip.subtype} {clip.original_rate} Hz x{clip.channels}",
        "duration_s": round(clip.duration, 3),
        "load_s": round(load, 4),
        "of_which_resample_s": round(resample_s, 4),
        "features_s": round(features_s, 4),
        "total_s": round(total, 4),
        "realtime_factor": round(clip.duration / total, 1),
        "voiced_fraction": round(float(feats.voiced.mean()), 3),
        "cpu_s": dict(CPU_TIMES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    x16, source = speech_16k(args.seconds)
    results: dict[str, object] = {
        "benchmark": "audio load + resample + features",
        "audio": source,
        "runs": args.runs,
        "statistic": "median",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
            "numpy": np.__version__,
            "libsndfile": sf.__libsndfile_version__,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sf.write(str(d / "speech16k.wav"), x16, 16000, subtype="PCM_16")
        x44 = resample_poly(x16, 441, 160).astype(np.float32)
        stereo = np.stack([x44, 0.8 * x44], axis=1)
        sf.write(str(d / "speech44k_stereo.wav"), stereo, 44100, subtype="PCM_16")
        inputs = {"wav_16k_mono": d / "speech16k.wav", "wav_44k1_stereo": d / "speech44k_stereo.wav"}
        if "MP3" in sf.available_formats():
            x48 = resample_poly(x16, 3, 1).astype(np.float32)
            sf.write(str(d / "speech48k.mp3"), x48, 48000, format="MP3")
            inputs["mp3_48k_mono"] = d / "speech48k.mp3"
        results["inputs"] = {key: bench_file(path, args.runs) for key, path in inputs.items()}
    n_frames = -(-x16.shape[0] // HOP)
    frames = _frames(x16, n_frames, WIN, HOP)
    results["features_breakdown_s"] = {
        "log_mel": round(timed(lambda: log_mel(frames), args.runs)[0], 4),
        "pitch": round(timed(lambda: _pitch(x16, n_frames), args.runs)[0], 4),
    }
    results["budget_note"] = "features for 60 s should be well under 0.1 s (product budget 0.6 s for all of it)"
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
