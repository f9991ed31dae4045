"""Neural engine speed: 60 s of speech per model family and through the whole pipeline; prints JSON.

For each family at its **default** config (random init: speed does not depend on the weights) and
for each checkpoint found in ``models/`` (and ``--models DIR``; their own size), the model calls
the engine makes for 60 s of speech (1800 frames at 30 fps), inference only:

    audio2flame  encode + content + emotion prior + emotion augment
    resnet1d     one forward pass
    pose         sample (autoregressive, seed 0, style "calm")
    mm2face      sample with a text prompt (the MiniLM encoding of the prompt is timed apart)

``median_s`` of ``--reps`` runs after one warm-up (``cold_s``), with ``torch.set_num_threads
(--threads)`` on the CPU; ``peak_rss_increase_mb``: the process's peak resident memory during the
runs above what it held before them (each measurement runs in its own process, so earlier ones
cannot hide it); parameters and checkpoint size (safetensors bytes; a random-init model is saved
to a temp folder to weigh it). Then the whole pipeline (``Pipeline.run`` on the 16 kHz samples,
including feature extraction, with an engine built from checkpoints: a face family + the pose
family) per face checkpoint, or default-size random-init ones when none are installed. With CUDA
(``torch.cuda.is_available()``) every measurement is repeated on the GPU.

DESIGN 5's budget is 0.6 s for 60 s of speech with the default pipeline on this machine's two
CPU cores; ``within_budget`` compares each CPU number with it. The machine may be shared: the
load average is reported with the numbers.

    python bench/engine.py [--models DIR ...] [--reps 3] [--threads 2] [--seconds 60] [--no-pipeline]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUDGET_S = 0.6
FAMILIES = ("audio2flame", "resnet1d", "pose", "mm2face")
FACES = ("audio2flame", "resnet1d", "mm2face")
PROMPT = "a cheerful woman explains something, smiling, nodding now and then"
TEXT = ("We were watching the rain from the window all afternoon. The quick brown fox jumps over the lazy dog. "
        "Maybe the best plan is to wait until the museum opens. Five old women moved slowly through the room. "
        "Bob bought a blue bike, and Pam paid for it. My mother made a big bowl of warm soup. ")


def say(message: str) -> None:
    print(f"[bench/engine] {message}", file=sys.stderr, flush=True)


# --- audio ------------------------------------------------------------------------------------------


def speech(seconds: float) -> tuple[np.ndarray, str]:
    """``seconds`` of 16 kHz speech: espeak-ng reading English, else the dev clips, else a voiced buzz."""
    rate = 16_000
    try:
        from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

        if espeak_available():
            pieces, total, k = [], 0, 0
            voices = ("en-us", "en-gb-x-rp", "en-us+f3")
            while total < seconds * rate:
                audio = synthesize(TEXT, voices[k % len(voices)], 170).audio16k
                pieces += [audio, np.zeros(rate // 3, np.float32)]
                total += len(audio) + rate // 3
                k += 1
            return np.concatenate(pieces)[: int(seconds * rate)], "espeak-ng (en-us, en-gb-x-rp, en-us+f3 at 170 wpm)"
    except (OSError, ValueError):
        pass
    dev = REPO.parent / "shared" / "speech" / "dev" / "wav16k"
    if dev.is_dir():
        import soundfile as sf

        clips = [sf.read(p, dtype="float32")[0] for p in sorted(dev.glob("*.wav"))]
        audio = np.concatenate(clips * (int(seconds * rate) // sum(map(len, clips)) + 1))
        return audio[: int(seconds * rate)], "dev clips concatenated"
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32), "synthetic buzz"


# --- one measurement, in its own process -------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _timed(run: Any, reps: int, sync: Any) -> dict[str, Any]:
    started = time.perf_counter()
    run()
    sync()
    cold = time.perf_counter() - started
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 4), "cold_s": round(cold, 4),
            "runs_s": [round(t, 4) for t in times]}


def measure_model(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one family's inference calls for ``spec['frames']`` frames (see the module docstring)."""
    import torch

    from mmface_studio.audio import compute_features
    from mmface_studio.engine.checkpoints import load_checkpoint, save_checkpoint
    from mmface_studio.engine.models.base import families

    torch.set_num_threads(int(spec["threads"]))
    device = torch.device(spec["device"])
    if spec.get("checkpoint"):
        model, info = load_checkpoint(spec["checkpoint"])
        size = info.path.stat().st_size
    else:
        cls = families()[spec["family"]]
        torch.manual_seed(0)
        model = cls(cls.config_class(space="arkit52"))
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(model, Path(tmp) / "m", metadata={"fps": 30.0, "feature_type": "logmel80"})
            size = (Path(tmp) / "m.safetensors").stat().st_size
    model = model.to(device).eval()
    audio = np.load(spec["audio"])
    mel = torch.from_numpy(compute_features(audio).mel.astype(np.float32))[None].to(device)
    n = int(spec["frames"])
    family = model.family
    out: dict[str, Any] = {}
    text = None
    if family == "mm2face":
        from mmface_studio.engine.encoders.text import load_text_encoder
        from mmface_studio.engine.neural.prompt import prompt_levels

        encoder = load_text_encoder(device=device)
        started = time.perf_counter()
        text = encoder.encode_hierarchical(prompt_levels(PROMPT))
        out["text_encode_s"] = round(time.perf_counter() - started, 4)

    def run() -> Any:
        with torch.inference_mode():
            if family == "audio2flame":
                enc = model.encode(mel, n)
                base = model.content(mel, n, enc)
                prior = model.emotion_prior(mel, n, enc)
                gamma = model.effective_gamma(torch.zeros_like(prior), prior, 0.1)
                return model.augment(base, gamma)
            if family == "resnet1d":
                return model(mel, n)
            if family == "pose":
                return model.sample(mel, n, seed=0, style="calm")
            return model.sample(text, mel, n, seed=0)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = _rss_mb()
    out.update(_timed(run, int(spec["reps"]), sync))
    out["peak_rss_increase_mb"] = round(max(0.0, _peak_mb() - before), 1)
    if device.type == "cuda":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out.update(parameters=int(model.parameter_count()), checkpoint_mb=round(size / 2**20, 2))
    return out


def measure_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """``Pipeline.run`` on the samples with an engine built from a face (+ pose) checkpoint."""
    import torch

    from mmface_studio.engine.checkpoints import load_checkpoint
    from mmface_studio.engine.neural.engine import NeuralEngine
    from mmface_studio.engine.pipeline import Pipeline, register_engine
    from mmface_studio.engine.request import GenerationRequest

    torch.set_num_threads(int(spec["threads"]))
    audio = np.load(spec["audio"])

    def build() -> NeuralEngine:
        face = load_checkpoint(spec["face"])[0]
        pose = load_checkpoint(spec["pose"])[0] if spec.get("pose") else None
        return NeuralEngine(face, pose, name="bench", device=spec["device"])

    register_engine("bench", build, needs_phones=False)
    request = GenerationRequest(audio=audio, engine="bench", prompt=PROMPT)
    stages: list[dict[str, float]] = []

    def run() -> None:
        pipeline = Pipeline()  # cold stage caches, as for a new clip
        pipeline.run(request)
        stages.append(dict(pipeline.last_timings))

    sync = torch.cuda.synchronize if spec["device"] == "cuda" else (lambda: None)
    before = _rss_mb()
    out = _timed(run, int(spec["reps"]), sync)
    out["peak_rss_increase_mb"] = round(max(0.0, _peak_mb() - before), 1)
    out["stages_s"] = {k: round(statistics.median(s[k] for s in stages[1:]), 4) for k in stages[-1]}
    return out


def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (clean peak memory); CPU runs see no GPU."""
    env = dict(os.environ)
    if spec["device"] == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env, check=False, timeout=1800)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the whole bench ---------------------------------------------------------------------------------


def _budget(result: dict[str, Any], device: str) -> dict[str, Any]:
    if device == "cpu" and "median_s" in result:
        result["within_budget"] = result["median_s"] <= BUDGET_S
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", action="append", type=Path, default=[], help="more checkpoint folders")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(measure_pipeline(spec) if spec["kind"] == "pipeline" else measure_model(spec)))
        return

    import torch

    from mmface_studio.engine.checkpoints import CheckpointRegistry, save_checkpoint
    from mmface_studio.engine.models.base import families

    load_before = os.getloadavg()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    audio, source = speech(args.seconds)
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    np.save(tmp / "audio.npy", audio)
    frames = int(round(args.seconds * 30))
    base = {"audio": str(tmp / "audio.npy"), "frames": frames, "reps": args.reps, "threads": args.threads}
    registry = CheckpointRegistry([REPO / "models", *args.models])
    checkpoints = [c for c in registry.checkpoints if c.family in FAMILIES and c.space == "arkit52"]
    report: dict[str, Any] = {
        "bench": "engine", "audio": {"seconds": args.seconds, "frames": frames, "source": source},
        "budget_s": BUDGET_S, "threads": args.threads, "reps": args.reps,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine(), "load_avg_before": load_before,
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "default_size": {}, "checkpoints": {}, "pipeline": {},
    }
    for device in devices:
        for family in FAMILIES:
            say(f"{family} default size on {device} ...")
            result = spawn({**base, "kind": "model", "family": family, "device": device})
            report["default_size"].setdefault(family, {})[device] = _budget(result, device)
        for info in checkpoints:
            say(f"{info.name} on {device} ...")
            result = spawn({**base, "kind": "model", "checkpoint": str(info.path), "device": device})
            report["checkpoints"].setdefault(info.name, {"family": info.family})[device] = _budget(result, device)
    if not args.no_pipeline:
        faces = [c for c in checkpoints if c.family in FACES]
        pose = next((c for c in checkpoints if c.family == "pose"), None)
        weights = "checkpoints"
        if not faces:  # nothing installed: default-size random-init checkpoints, saved like trained ones
            weights = "random init, default size (no checkpoints installed)"
            for family in FAMILIES:
                cls = families()[family]
                torch.manual_seed(0)
                save_checkpoint(cls(cls.config_class(space="arkit52")), tmp / f"default-{family}",
                                metadata={"fps": 30.0, "feature_type": "logmel80"})
            fresh = CheckpointRegistry([tmp])
            faces, pose = [c for c in fresh.checkpoints if c.family in FACES], fresh.list("pose")[0]
        for device in devices:
            for face in faces:
                say(f"pipeline {face.name} + {pose.name if pose else 'classic head motion'} on {device} ...")
                result = spawn({**base, "kind": "pipeline", "face": str(face.path), "device": device,
                                "pose": str(pose.path) if pose else None})
                entry = report["pipeline"].setdefault(
                    face.name, {"face": face.name, "pose": pose.name if pose else None, "weights": weights})
                entry[device] = _budget(result, device)
    report["machine"]["load_avg_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
