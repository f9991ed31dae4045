"""Lip-sync quality of the default pipeline, measured on the built-in head's lips; prints JSON.

Per espeak-ng voice (two texts: ordinary English, and one packed with /p b m/), per real dev clip
(../shared/speech/dev, all of them), in alignment and recognition mode:

- ``closure``: share of /p b m/ intervals whose smallest lip gap is <= the threshold, and how many.
  espeak-ng: against espeak-ng's own closures (independent of pocketsphinx) and against the
  engine's own phones; dev clips: the engine's own aligned phones only (no independent truth);
- ``r_outside_closures`` / ``r_all_frames``: Pearson r of lip gap vs the audio energy in the speech
  band (500-4000 Hz, ``metrics.speech_band_energy_db``); ``r_broadband_*``: the same against the
  broadband RMS energy the first version of this bench used, for comparison;
- ``jitter_jaw`` / ``jitter_gap_mm``: mean |second difference| per frame;
- espeak-ng only, ``onset_error_ms``: start of the engine's /p b m/ nearest to each true closure
  minus the true start (the phonetic layer's timing), pooled in ``overall.bilabial_onsets``.

Thresholds and the rig numbers behind them are in ``thresholds``; the reasons are in
``mmface_studio/engine/metrics.py``. Not a test: nothing is asserted.

    python bench/lipsync_eval.py [--shared PATH] [--no-espeak] [--no-clips]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmface_studio.engine import GenerationRequest, Pipeline  # noqa: E402
from mmface_studio.engine import metrics as m  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAD_S = 0.3
TEXTS = {
    "ordinary": ("We were watching the rain from the window all afternoon. The quick brown fox jumps over the lazy "
                 "dog. Maybe the best plan is to wait until the museum opens. Five old women moved slowly through "
                 "the room."),
    "bilabial_dense": ("Bob bought a blue bike, and Pam paid for it. My mother made a big bowl of warm soup. "
                       "Five brave women moved the heavy boxes over the bumpy bridge."),
}
VOICES = (("en-us", 175), ("en-gb-x-rp", 160), ("en-us+f3", 190), ("en-gb-scotland", 175), ("en-us-nyc", 150))
MODES = ("alignment", "recognition")


def measure(rig: Any, pipeline: Pipeline, request: GenerationRequest, audio16k: np.ndarray,
            truth: list[tuple[str, float, float]] | None) -> dict[str, Any]:
    """Generate and measure one take (times include pocketsphinx)."""
    started = time.perf_counter()
    perf = pipeline.run(request)
    seconds = time.perf_counter() - started
    analysis = pipeline.last_analysis
    gaps = m.lip_gap(rig, perf)
    own = [(p.label, p.start, p.end) for p in analysis.phones if p.label in m.BILABIALS]
    closures = truth if truth is not None else own
    keep = ~m.interval_frames(closures, perf.frame_count, perf.fps)
    found = m.interval_gaps(gaps, closures, perf.fps)
    out: dict[str, Any] = {
        "mode": analysis.mode, "fallback_reason": analysis.fallback_reason, "duration_s": round(perf.duration, 2),
        "generate_s": round(seconds, 3),
    }
    if truth is not None:
        out["closure_vs_espeak"] = _closure(found)
    out["closure_vs_own_phones"] = _closure(m.interval_gaps(gaps, own, perf.fps))
    band = m.speech_band_energy_db(audio16k)
    out["r_outside_closures"] = _round(m.opening_energy_correlation(gaps, band, perf.fps, keep=keep))
    out["r_all_frames"] = _round(m.opening_energy_correlation(gaps, band, perf.fps))
    out["r_broadband_outside_closures"] = _round(m.opening_energy_correlation(gaps, analysis.energy_db, perf.fps,
                                                                             keep=keep))
    out["r_broadband_all_frames"] = _round(m.opening_energy_correlation(gaps, analysis.energy_db, perf.fps))
    if truth is not None and analysis.mode == "alignment" and own:
        starts = np.array([s for _, s, _ in own])
        out["onset_error_ms"] = [round(1e3 * (starts[np.argmin(np.abs(starts - s))] - s)) for _, s, _ in truth]
    out["jitter_jaw"] = round(m.jitter(perf.curve("jawOpen")), 4)
    out["jitter_gap_mm"] = round(m.jitter(gaps) * 1e3, 3)
    if analysis.mode == "recognition" and analysis.words:  # what was heard (alignment hears the transcript)
        out["words"] = " ".join(w[0] for w in analysis.words)
    return out


def _round(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 3)


def _closure(found: list[m.IntervalGap]) -> dict[str, Any]:
    closed = [g.min_gap <= m.CLOSURE_THRESHOLD_M for g in found]
    return {"rate": round(float(np.mean(closed)), 3) if found else None, "closed": int(sum(closed)), "n": len(found),
            "open": [f"{g.label}@{g.start:.2f}s {g.min_gap * 1e3:.1f}mm" for g, ok in zip(found, closed, strict=True)
                     if not ok]}


def bench_espeak(rig: Any) -> dict[str, Any]:
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if not espeak_available():
        return {"skipped": "the espeak-ng library is not available"}
    out: dict[str, Any] = {}
    pad = np.zeros(int(PAD_S * 16000), np.float32)
    for voice, wpm in VOICES:
        for name, text in TEXTS.items():
            speech = synthesize(text, voice, wpm)
            audio = np.concatenate([pad, speech.audio16k, pad])
            truth = m.espeak_bilabial_intervals(speech.phones, speech.audio16k, offset=PAD_S)
            pipeline = Pipeline()
            for mode in MODES:
                request = GenerationRequest(audio=audio, transcript=text if mode == "alignment" else None)
                out[f"{voice}@{wpm}wpm/{name}/{mode}"] = measure(rig, pipeline, request, audio, truth)
    return out


def bench_clips(rig: Any, dev: Path) -> dict[str, Any]:
    if not (dev / "clips.tsv").exists():
        return {"skipped": f"{dev} not found"}
    import soundfile as sf

    out: dict[str, Any] = {}
    for row in csv.DictReader((dev / "clips.tsv").open(), delimiter="\t"):
        pipeline = Pipeline()
        audio, rate = sf.read(dev / row["wav16k"], dtype="float32")
        assert rate == 16000, rate
        for mode in MODES:
            request = GenerationRequest(audio=str(dev / row["wav16k"]),
                                        transcript=row["transcript"] if mode == "alignment" else None)
            out[f"{row['id']}/{mode}"] = measure(rig, pipeline, request, audio, None)
    return out


def summarise(takes: dict[str, Any], closure_key: str) -> dict[str, Any]:
    """Pooled closure, r range and worst jitter, and how many takes meet each threshold."""
    rows = [t for t in takes.values() if isinstance(t, dict) and "r_all_frames" in t]
    if not rows:
        return {}
    closed = sum(t[closure_key]["closed"] for t in rows)
    n = sum(t[closure_key]["n"] for t in rows)
    def values(key: str) -> list[float]:
        return [t[key] for t in rows if t.get(key) is not None]

    r_open, r_all = values("r_outside_closures"), values("r_all_frames")
    rates = [t[closure_key]["rate"] for t in rows if t[closure_key]["rate"] is not None]
    def spread(values: list[float]) -> dict[str, Any]:
        if not values:
            return {}
        return {"min": min(values), "median": round(float(np.median(values)), 3),
                "takes_ok": sum(r >= m.CORRELATION_MIN for r in values)}

    return {
        "takes": len(rows), "closure_pooled": round(closed / n, 3) if n else None, "closure_n": n,
        "takes_closure_ok": sum(r >= m.CLOSURE_RATE_MIN for r in rates), "takes_with_closures": len(rates),
        "r_outside_closures": spread(r_open), "r_all_frames": spread(r_all),
        "r_broadband_outside_closures": spread(values("r_broadband_outside_closures")),
        "jitter_jaw_max": max(t["jitter_jaw"] for t in rows),
        "jitter_gap_mm_max": max(t["jitter_gap_mm"] for t in rows),
    }


def onsets(takes: dict[str, Any]) -> dict[str, Any]:
    """Pooled onset error of the aligned /p b m/ against espeak-ng's closures (alignment mode)."""
    errors = np.array([e for t in takes.values() if isinstance(t, dict) for e in t.get("onset_error_ms", [])])
    if errors.size == 0:
        return {}
    late = [f"{k.split('/')[0]}/{k.split('/')[1]}: {e} ms" for k, t in takes.items() if isinstance(t, dict)
            for e in t.get("onset_error_ms", []) if abs(e) > 50]
    return {"n": int(errors.size), "median_ms": float(np.median(errors)),
            "mean_abs_ms": round(float(np.abs(errors).mean()), 1), "within_50ms": int((np.abs(errors) <= 50).sum()),
            "beyond_50ms": late}


def by_mode(takes: dict[str, Any], closure_key: str) -> dict[str, Any]:
    return {mode: summarise({k: v for k, v in takes.items() if k.endswith("/" + mode)}, closure_key)
            for mode in MODES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--no-espeak", action="store_true")
    parser.add_argument("--no-clips", action="store_true")
    args = parser.parse_args()

    from mmface_studio.rig.default_head import load_default_head

    rig = load_default_head()
    started = time.perf_counter()
    espeak = {"skipped": "--no-espeak"} if args.no_espeak else bench_espeak(rig)
    clips = {"skipped": "--no-clips"} if args.no_clips else bench_clips(rig, args.shared / "speech" / "dev")
    thresholds = m.describe_thresholds(rig)
    thresholds["gap_jitter_max_mm_at_30fps"] = round(m.jitter_threshold(30.0, m.jaw_lip_travel(rig)) * 1e3, 3)
    report = {
        "bench": "lipsync_eval",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "thresholds": thresholds,
        "espeak": espeak,
        "dev_clips": clips,
        "overall": {
            "espeak_vs_espeak_truth": by_mode(espeak, "closure_vs_espeak"),
            "espeak_vs_own_phones": by_mode(espeak, "closure_vs_own_phones"),
            "dev_clips_vs_own_phones": by_mode(clips, "closure_vs_own_phones"),
            "bilabial_onsets": onsets(espeak),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(compact_json(report))


def compact_json(report: dict[str, Any]) -> str:
    """JSON with one line per take (the report is long otherwise); still one valid document."""
    lines = []
    for i, (key, value) in enumerate(report.items()):
        comma = "," if i + 1 < len(report) else ""
        if isinstance(value, dict) and key in ("espeak", "dev_clips", "overall") and value:
            inner = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
            lines.append(f" {json.dumps(key)}: {{\n" + ",\n".join(inner) + f"\n }}{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
    return "{\n" + "\n".join(lines) + "\n}"


if __name__ == "__main__":
    main()
