"""Held-out evaluation of trained checkpoints against the classic engine, and the model cards' tables.

``mmface-studio report --data CORPUS --models DIR [--models DIR2 ...] [--dev DEV] [--json OUT] [--cards]``
scores every checkpoint in the folders (arkit52, as the corpus) on the corpus's **test** split, whose voices and
sentences never occur in training, and on real dev recordings:

- **Lip sync** per face family and the classic engine: LVE / FVE (mm, built-in head, head pose
  zeroed), /p b m/ closure against the synthesiser's true phones (pooled over clips), lip-gap and
  jaw jitter, emotion fidelity. The targets are the classic engine's own output (the teacher) under
  a random emotion program, blink seed and head-motion seed; every engine gets that same emotion
  program (an EmotionTrack rebuilt from the clip's keys), blink seed, pose seed and style, so the
  errors compare what each makes of the *audio*. The classic engine is scored three ways: on the
  true phones (that is the teacher: its small error comes only from prosody measured on the
  augmented audio), on pocketsphinx's alignment of the transcript, and on recognised phones (audio
  only, like the neural engines).
- **Head pose**: diversity across seeds for the same audio and style, and pose FID against the test
  targets, for each pose checkpoint vs the classic head-motion program.
- **R-precision** of MM2Face with the clip's text vs without, and of the targets (the ceiling).
- **Dev clips** (real voices, no ground truth): closure against the aligned transcript, mouth
  opening vs speech-band energy correlation, jitter.

The yardsticks (emotion classifier, pose feature extractor, retrieval model) are trained on the
train split and cached (``training.report_models``). Everything is deterministic for a corpus and
a set of checkpoints.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine import metrics as lipsync
from mmface_studio.engine.neural import LIPSYNC_FAMILIES
from mmface_studio.training import metrics
from mmface_studio.training import report_models as rm
from mmface_studio.training.report_cards import notes

CLASSIC = {"truth": "classic (true phones = teacher)", "aligned": "classic (aligned transcript)",
           "recognised": "classic (recognised phones)"}
TARGETS = "targets (teacher output)"
FPS = 30.0


@dataclass
class ReportConfig:
    """What to evaluate and how much of it (the defaults run in minutes on a 2-core CPU)."""

    data: Path
    models: Path | Sequence[Path]  # one folder of checkpoints or several (e.g. one per training run)
    dev: Path | None = None
    max_clips: int = 30
    max_dev_clips: int | None = None
    pose_seeds: int = 4
    classic_modes: tuple[str, ...] = ("truth", "aligned", "recognised")
    cache: Path | None = None
    steps: rm.YardstickSteps = field(default_factory=rm.YardstickSteps)
    rp_clips: int = 64
    rp_repeats: int = 20


def _say(message: str) -> None:
    print(f"[report] {message}", file=sys.stderr, flush=True)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


# --- checkpoints -----------------------------------------------------------------------------------


@dataclass
class Loaded:
    name: str
    family: str
    model: Any
    info: Any


def model_folders(models: Path | Sequence[Path]) -> list[Path]:
    return [Path(models)] if isinstance(models, (str, os.PathLike)) else [Path(m) for m in models]


def load_models(folders: list[Path]) -> tuple[list[Loaded], list[str]]:
    """The arkit52 checkpoints in ``folders`` (loaded) and why others were left out."""
    from mmface_studio.engine.checkpoints import CheckpointError, CheckpointRegistry, load_checkpoint

    registry = CheckpointRegistry(folders)
    loaded, skipped = [], [f"{s.path.name}: {s.reason}" for s in registry.skipped]
    for info in registry.checkpoints:
        if info.space != "arkit52" or info.family not in (*LIPSYNC_FAMILIES, "pose"):
            skipped.append(f"{info.name}: {info.family} in {info.space} (the corpus is arkit52 speech)")
            continue
        try:
            model, info = load_checkpoint(info.path)
        except CheckpointError as exc:
            skipped.append(f"{info.name}: {exc}")
            continue
        loaded.append(Loaded(info.name, info.family, model, info))
    return loaded, skipped


def _register(face: Loaded) -> str:
    """Register a pipeline engine for ``face`` (classic head motion: the pose family is scored apart)."""
    from mmface_studio.engine.neural.engine import NeuralEngine
    from mmface_studio.engine.pipeline import register_engine

    name = f"report:{face.name}"
    stamp = face.info.path.stat()
    register_engine(name, lambda: NeuralEngine(face.model, None, name=name, version=f"{stamp.st_size}:"
                                               f"{stamp.st_mtime_ns}"), needs_phones=False)
    return name


# --- per clip ---------------------------------------------------------------------------------------


@dataclass
class Prepared:
    clip: rm.CorpusClip
    features: Any
    truth: Any  # Analysis on the true phones (the teacher's input)
    vad: Any  # features-only Analysis (what the pipeline gives neural engines)

    @property
    def mel(self) -> torch.Tensor:
        return torch.from_numpy(np.array(self.features.mel, np.float32))[None]


def prepare(clip: rm.CorpusClip) -> Prepared:
    from mmface_studio.audio import compute_features
    from mmface_studio.engine.request import Analysis

    feats = compute_features(clip.audio)
    duration = len(clip.audio) / 16_000
    truth = Analysis(clip.phones, feats.energy_db, feats.f0_hz, duration, feats.fps, "truth", mel=feats.mel)
    return Prepared(clip, feats, truth, Analysis.from_features(feats, duration=duration))


@dataclass
class _Rows:
    """Per-row lists of per-clip numbers, turned into one row of the table at the end."""

    data: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def add(self, row: str, **values: Any) -> None:
        slot = self.data.setdefault(row, {})
        for k, v in values.items():
            slot.setdefault(k, []).append(v)


def _lip_numbers(perf: Performance, rig: Any, phones: Any) -> dict[str, Any]:
    gaps = metrics.lip_gap_mm(rig, perf) * 1e-3
    found = lipsync.interval_gaps(gaps, phones, perf.fps)
    return {"closed": sum(g.min_gap <= lipsync.CLOSURE_THRESHOLD_M for g in found), "bilabials": len(found),
            "gap_jitter": lipsync.jitter(gaps * 1e3), "jaw_jitter": lipsync.jitter(perf.curve("jawOpen")),
            "gaps": gaps}


def _score_take(rows: _Rows, row: str, perf: Performance, p: Prepared, rig: Any, yard: rm.Yardsticks) -> None:
    clip = p.clip
    target = Performance(FPS, ARKIT52, clip.motion)
    errors = metrics.vertex_errors(perf, target, rig) if row != TARGETS else None
    lips = _lip_numbers(perf, rig, clip.phones)
    logits = yard.emotion.frame_logits(perf.values[rm.FACE_ROWS].T)
    n = min(len(logits), clip.n_frames)
    verdict, probs = metrics.clip_emotion(logits[:n], frames=n)
    rows.add(row, lve=errors.lve_mm if errors else 0.0, fve=errors.fve_mm if errors else 0.0,
             closed=lips["closed"], bilabials=lips["bilabials"], gap_jitter=lips["gap_jitter"],
             jaw_jitter=lips["jaw_jitter"], verdict=verdict, probs=probs, requested=clip.emotion.mean(0),
             frame_acc=float((logits[:n].argmax(1) == rm.frame_labels(clip.emotion[:n])).mean()))


def _lipsync_row(d: dict[str, list[Any]]) -> dict[str, Any]:
    fidelity = metrics.emotion_fidelity(np.stack(d["requested"]), np.stack(d["probs"]), logits=False,
                                        predicted_class=np.array(d["verdict"]))
    n = int(sum(d["bilabials"]))
    return {"lve_mm": _mean(d["lve"]), "fve_mm": _mean(d["fve"]),
            "closure_rate": sum(d["closed"]) / n if n else float("nan"), "bilabials": n,
            "lip_gap_jitter_mm": _mean(d["gap_jitter"]), "jaw_jitter": _mean(d["jaw_jitter"]),
            "emotion_accuracy": fidelity.accuracy, "emotion_frame_accuracy": _mean(d["frame_acc"]),
            "emotion_intensity_r": fidelity.intensity_r, "clips": len(d["lve"])}


def lipsync_section(prepared: list[Prepared], faces: list[Loaded], yard: rm.Yardsticks, rig: Any,
                    modes: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    from mmface_studio.audio.phonetic import analyse_speech
    from mmface_studio.engine.pipeline import Pipeline
    from mmface_studio.engine.request import Analysis, GenerationRequest

    engines = {face.name: _register(face) for face in faces}
    rows = _Rows()
    for k, p in enumerate(prepared):
        c = p.clip
        started = time.perf_counter()
        analyses = {"truth": p.truth}
        duration = p.truth.duration
        if "aligned" in modes:
            analyses["aligned"] = Analysis.from_track(analyse_speech(c.audio, c.meta.get("transcript") or None),
                                                      p.features, duration=duration)
        if "recognised" in modes:
            analyses["recognised"] = Analysis.from_track(analyse_speech(c.audio, None), p.features, duration=duration)
        request = GenerationRequest(emotion=c.emotion_track, pose_seed=int(c.meta.get("pose_seed", 0)),
                                    pose_style=str(c.meta.get("pose_style", "calm")),
                                    blink_seed=int(c.meta.get("blink_seed", 0)), fps=FPS)
        pipeline = Pipeline(cache_size=1)
        _score_take(rows, TARGETS, Performance(FPS, ARKIT52, c.motion), p, rig, yard)
        for mode in modes:
            perf = pipeline.run(replace(request, engine="classic"), analysis=analyses[mode])
            _score_take(rows, CLASSIC[mode], perf, p, rig, yard)
        for label, engine in engines.items():
            _score_take(rows, label, pipeline.run(replace(request, engine=engine), analysis=p.vad), p, rig, yard)
        _say(f"lip sync {k + 1}/{len(prepared)} {c.id} ({duration:.1f} s) in {time.perf_counter() - started:.1f} s")
    return {row: _lipsync_row(d) for row, d in rows.data.items()}


# --- head pose -------------------------------------------------------------------------------------


@torch.no_grad()
def _window_features(extractor: Any, takes: list[np.ndarray]) -> np.ndarray:
    extractor.eval()
    out = [extractor.encode(extractor.clips(torch.from_numpy(np.ascontiguousarray(t, np.float32))[None])[0])
           for t in takes]
    return torch.cat(out).double().numpy()


def _spread_deg(takes: list[np.ndarray]) -> float:
    """Mean over pairs of takes of their RMS head-angle difference, in degrees (extractor-free diversity)."""
    pairs = [(i, j) for i in range(len(takes)) for j in range(i + 1, len(takes))]
    return _mean([math.degrees(float(np.sqrt(np.mean((takes[i] - takes[j]) ** 2)))) for i, j in pairs])


def pose_section(prepared: list[Prepared], poses: list[Loaded], yard: rm.Yardsticks, seeds: int,
                 train_pose: list[np.ndarray]) -> dict[str, dict[str, Any]]:
    from mmface_studio.engine.classic.engine import ClassicEngine

    classic = ClassicEngine()
    real = _window_features(yard.pose, [p.clip.pose for p in prepared])
    rng = np.random.default_rng(0)
    picks = rng.choice(len(train_pose), min(len(train_pose), len(prepared)), replace=False)
    floor = _window_features(yard.pose, [train_pose[i] for i in picks])
    out: dict[str, dict[str, Any]] = {"targets (train vs test)": {"fid": metrics.frechet_distance(real, floor),
                                                                  "diversity": float("nan"),
                                                                  "spread_deg": float("nan")}}
    makers: dict[str, Any] = {"classic head motion": lambda p, s: classic.head_pose(
        p.truth, FPS, s, str(p.clip.meta.get("pose_style", "calm")), None).T}
    for pose in poses:
        makers[pose.name] = lambda p, s, m=pose.model: m.sample(
            p.mel, p.clip.n_frames, seed=s, style=str(p.clip.meta.get("pose_style", "calm")))[0].numpy()
    for label, make in makers.items():
        started = time.perf_counter()
        windows, diversity, spread = [], [], []
        for p in prepared:
            takes = [np.asarray(make(p, s), np.float32)[:p.clip.n_frames] for s in range(1, seeds + 1)]
            windows.append(_window_features(yard.pose, takes))
            with torch.no_grad():
                feats = yard.pose.features(torch.from_numpy(np.stack(takes)))
            diversity.append(metrics.diversity(feats))
            spread.append(_spread_deg(takes))
        out[label] = {"fid": metrics.frechet_distance(real, np.concatenate(windows)), "diversity": _mean(diversity),
                      "spread_deg": _mean(spread)}
        _say(f"pose {label}: {len(prepared)} clips x {seeds} seeds in {time.perf_counter() - started:.1f} s")
    return out


# --- R-precision -----------------------------------------------------------------------------------


def rprecision_section(clips: list[rm.CorpusClip], mm2faces: list[Loaded], yard: rm.Yardsticks, encoder: Any,
                       repeats: int) -> dict[str, dict[str, Any]]:
    from mmface_studio.audio import compute_features

    text = yard.retrieval.text_embeddings(rm.text_vectors(encoder, [c.text for c in clips]))

    def score(motions: list[np.ndarray]) -> dict[str, Any]:
        emb = yard.retrieval.motion_embeddings(motions)
        r = np.mean([metrics.r_precision(text, emb, top_k=3, batch_size=32, seed=s) for s in range(repeats)], 0)
        return {"top1": float(r[0]), "top2": float(r[1]), "top3": float(r[2]), "clips": len(clips)}

    out = {"targets (ceiling)": score([rm.motion_rows(c.motion) for c in clips])}
    mels = [torch.from_numpy(compute_features(c.audio).mel.astype(np.float32))[None] if c.kind == "speech" else None
            for c in clips]
    for face in mm2faces:
        for with_text in (True, False):
            started = time.perf_counter()
            takes = []
            for c, mel in zip(clips, mels, strict=True):
                levels = encoder.encode_hierarchical(c.text) if with_text else None
                takes.append(face.model.sample(levels, mel, c.n_frames, seed=0)[0].numpy())
            label = f"{face.name} {'with' if with_text else 'without'} text"
            out[label] = score(takes)
            _say(f"R-precision {label}: {len(clips)} samples in {time.perf_counter() - started:.1f} s")
    return out


# --- dev clips --------------------------------------------------------------------------------------


def dev_section(dev: Path, faces: list[Loaded], rig: Any, limit: int | None) -> dict[str, dict[str, Any]]:
    from mmface_studio.audio import compute_features, load_audio
    from mmface_studio.audio.phonetic import analyse_speech
    from mmface_studio.engine.pipeline import Pipeline
    from mmface_studio.engine.request import Analysis, GenerationRequest

    table = list(csv.DictReader((dev / "clips.tsv").open(encoding="utf-8"), delimiter="\t"))[:limit]
    engines = {"classic (aligned transcript)": "classic"} | {f.name: _register(f) for f in faces}
    rows = _Rows()
    for k, entry in enumerate(table):
        started = time.perf_counter()
        clip = load_audio(dev / entry["wav16k"])
        feats = compute_features(clip)
        aligned = Analysis.from_track(analyse_speech(clip.analysis, entry["transcript"]), feats, duration=clip.duration)
        vad = Analysis.from_features(feats, duration=clip.duration)
        band = lipsync.speech_band_energy_db(clip.analysis)
        pipeline = Pipeline(cache_size=1)
        for label, engine in engines.items():
            perf = pipeline.run(GenerationRequest(engine=engine, transcript=entry["transcript"], fps=FPS),
                                analysis=aligned if engine == "classic" else vad)
            lips = _lip_numbers(perf, rig, aligned.phones)
            keep = ~lipsync.interval_frames(aligned.phones, perf.frame_count, perf.fps)
            rows.add(label, closed=lips["closed"], bilabials=lips["bilabials"], gap_jitter=lips["gap_jitter"],
                     jaw_jitter=lips["jaw_jitter"],
                     r=lipsync.opening_energy_correlation(lips["gaps"], band, perf.fps, keep=keep))
        _say(f"dev {k + 1}/{len(table)} {entry['id']} ({clip.duration:.1f} s) in {time.perf_counter() - started:.1f} s")
    out = {}
    for label, d in rows.data.items():
        n, r = int(sum(d["bilabials"])), [x for x in d["r"] if math.isfinite(x)]
        out[label] = {"closure_rate": sum(d["closed"]) / n if n else float("nan"), "bilabials": n,
                      "r_median": float(np.median(r)) if r else float("nan"), "r_min": min(r, default=float("nan")),
                      "lip_gap_jitter_mm": _mean(d["gap_jitter"]), "jaw_jitter": _mean(d["jaw_jitter"]),
                      "clips": len(d["r"])}
    return out


# --- the whole report --------------------------------------------------------------------------------


def _cache_dir(config: ReportConfig) -> Path:
    """The yardsticks live with the corpus they measure against (writable), else with the models."""
    if config.cache is not None:
        return Path(config.cache)
    if os.access(config.data, os.W_OK):
        return Path(config.data) / "yardsticks"
    return model_folders(config.models)[0] / "yardsticks"


def run_report(config: ReportConfig) -> dict[str, Any]:
    """Evaluate every checkpoint of ``config.models``; returns the report (tables as nested dicts)."""
    from mmface_studio.rig.loading import load_rig

    started = time.perf_counter()
    folders = model_folders(config.models)
    loaded, skipped = load_models(folders)
    faces = [m for m in loaded if m.family in LIPSYNC_FAMILIES]
    poses = [m for m in loaded if m.family == "pose"]
    mm2faces = [m for m in faces if m.family == "mm2face"]
    _say(f"{len(loaded)} checkpoint(s): {', '.join(f'{m.name} ({m.family})' for m in loaded) or 'none'}")
    encoder = None
    if mm2faces:
        from mmface_studio.engine.encoders.text import load_text_encoder

        encoder = load_text_encoder(device="cpu")
    cache = _cache_dir(config)
    yard = rm.build_yardsticks(config.data, cache, steps=config.steps, text_encoder=encoder, say=_say)
    speech = rm.load_clips(config.data, "test", kinds=("speech",), limit=config.max_clips)
    if not speech:
        raise ValueError(f"{config.data} has no held-out (test) speech clips.")
    _say(f"{len(speech)} held-out speech clips ({sum(len(c.audio) for c in speech) / 16_000:.0f} s)")
    prepared = [prepare(c) for c in speech]
    rig = load_rig(None)
    report: dict[str, Any] = {
        "corpus": str(config.data), "models": [str(f) for f in folders], "created": _dt.datetime.now(
            _dt.timezone.utc).isoformat(timespec="seconds"),
        "checkpoints": [{"name": m.name, "family": m.family, "parameters": int(m.info.parameter_count),
                         "stem": str(m.info.metadata_path.with_suffix(""))} for m in loaded],
        "skipped": skipped, "yardsticks": yard.info,
        "test_clips": len(speech), "test_seconds": round(sum(len(c.audio) for c in speech) / 16_000, 1),
        "lipsync": lipsync_section(prepared, faces, yard, rig, tuple(config.classic_modes)),
        "pose": pose_section(prepared, poses, yard, config.pose_seeds,
                             [c.pose for c in rm.load_clips(config.data, "train", kinds=("speech",))]),
    }
    if mm2faces and yard.retrieval is not None:
        every = rm.load_clips(config.data, "test", limit=config.rp_clips)
        report["r_precision"] = rprecision_section(every, mm2faces, yard, encoder, config.rp_repeats)
    if config.dev is not None and (Path(config.dev) / "clips.tsv").is_file():
        report["dev"] = dev_section(Path(config.dev), faces, rig, config.max_dev_clips)
    report["notes"] = notes(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
