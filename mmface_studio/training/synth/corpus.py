"""Build the synthetic corpus: plan examples from a seed, synthesise, augment, make targets, write shards.

Why this shape:

- **A plan first.** Every example's choices (split, voice, sentence, rate, its own seed) are
  drawn up front from the corpus seed, in one stream that does not depend on how many workers
  run or on how long any clip turned out. Each example then draws everything else (padding,
  augmentation, emotion keys, pose style and seeds, wording) from its own seed. So a corpus is
  a pure function of (seed, hours, the voices installed), byte for byte.
- **Targets from the teacher on the truth.** The classic engine gets an ``Analysis`` built from
  the synthesiser's own phone timing (never a recogniser's guess) and the prosody of the audio
  *before* the timing-keeping augmentations, so noise or reverb cannot change the targets; a
  speed change rescales the phone times with the audio.
- **Splits that hold out both voices and sentences.** A speech example exists only where its
  voice's split equals its sentence's split (see ``voices`` and ``sentences``): a test clip's
  voice and sentence are never in train. Text-only clips have neither.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine.request import EMOTIONS, POSE_STYLES, SILENCE, Analysis, GenerationRequest, PhoneSpan
from mmface_studio.training.synth import augment, phonemap, programs, shards, text
from mmface_studio.training.synth.sentences import Sentence, sentence_pool
from mmface_studio.training.synth.voices import BACKEND_WEIGHTS, SPLITS, Voice, available_voices, synthesize_batch

FPS = 30.0
RATE = 16_000
SPLIT_SHARES: dict[str, float] = {"train": 0.85, "val": 0.05, "test": 0.10}
TEXT_ONLY_SHARE = 0.12
SHARD_SECONDS = 600.0
_WORDS_PER_S = 2.7  # espeak-ng at 170 wpm, the planning estimate of a sentence's length


class CorpusError(RuntimeError):
    """The corpus cannot be built as asked (no voices, unwritable folder...)."""


@dataclass(frozen=True)
class ExamplePlan:
    """The up-front choices for one example; everything else comes from ``seed``."""

    index: int
    kind: str  # "speech" or "actions"
    split: str
    seed: int
    voice: str | None = None
    sentence: str | None = None
    rate: float = 1.0
    estimate_s: float = 4.0


@dataclass(frozen=True)
class CorpusConfig:
    hours: float
    seed: int = 0
    with_mel: bool = False
    text_only_share: float = TEXT_ONLY_SHARE
    shard_seconds: float = SHARD_SECONDS
    backends: tuple[str, ...] = ("espeak", "festival", "piper")


def _example_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, 1, index]).generate_state(1)[0])


def plan_corpus(config: CorpusConfig, voices: Sequence[Voice]) -> list[ExamplePlan]:
    """Examples until the estimated total reaches ``config.hours``."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    by_split: dict[str, dict[str, list[Voice]]] = {s: {} for s in SPLITS}
    for v in voices:
        by_split[v.split].setdefault(v.backend, []).append(v)
    pool = sentence_pool()
    sentences = {s: [x for x in pool if x.split == s] for s in SPLITS}
    target, total, plans = config.hours * 3600.0, 0.0, []
    split_names, split_p = list(SPLIT_SHARES), np.array(list(SPLIT_SHARES.values()))
    while total < target:
        index = len(plans)
        split = str(rng.choice(split_names, p=split_p / split_p.sum()))
        seed = _example_seed(config.seed, index)
        backends = sorted(by_split[split])
        if rng.random() < config.text_only_share or not backends:
            plan = ExamplePlan(index, "actions", split, seed)
        else:
            weights = np.array([BACKEND_WEIGHTS[b] for b in backends])
            backend = backends[int(rng.choice(len(backends), p=weights / weights.sum()))]
            voice = by_split[split][backend][int(rng.integers(len(by_split[split][backend])))]
            sentence = sentences[split][int(rng.integers(len(sentences[split])))]
            rate = float(rng.uniform(0.78, 1.3))
            estimate = len(sentence.text.split()) / (_WORDS_PER_S * rate) + 0.9
            plan = ExamplePlan(index, "speech", split, seed, voice.id, sentence.id, round(rate, 4), estimate)
        plans.append(plan)
        total += plan.estimate_s
    return plans


def shard_plans(plans: Sequence[ExamplePlan], shard_seconds: float) -> list[list[ExamplePlan]]:
    out: list[list[ExamplePlan]] = [[]]
    acc = 0.0
    for plan in plans:
        if acc >= shard_seconds and out[-1]:
            out.append([])
            acc = 0.0
        out[-1].append(plan)
        acc += plan.estimate_s
    return out


# --- one example --------------------------------------------------------------------------------------------


def _pipeline():  # noqa: ANN202 - engine.pipeline.Pipeline, imported lazily for worker start-up
    from mmface_studio.engine.pipeline import Pipeline

    return Pipeline(cache_size=1)


def _shift(phones: Sequence[PhoneSpan], offset: float, scale: float, duration: float) -> tuple[PhoneSpan, ...]:
    return phonemap.tile([(p.label, (p.start + offset) * scale, (p.end + offset) * scale) for p in phones
                          if p.label != SILENCE], duration)


def _targets(pipeline: Any, analysis: Analysis, track: Any, pose: tuple[str, int, int]) -> np.ndarray:
    style, pose_seed, blink_seed = pose
    request = GenerationRequest(engine="classic", emotion=track, pose_style=style, pose_seed=pose_seed,
                                blink_seed=blink_seed, fps=FPS)
    return pipeline.run(request, analysis=analysis).values


def build_speech(plan: ExamplePlan, speech: Any, sentence: Sentence, pipeline: Any,
                 with_mel: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays + metadata of one speech example from its synthesised ``speech``."""
    from mmface_studio.audio.features import compute_features

    rng = np.random.default_rng(plan.seed)
    lead, trail = float(rng.uniform(0.15, 0.6)), float(rng.uniform(0.2, 0.7))
    audio = np.concatenate([np.zeros(int(lead * RATE), np.float32), speech.audio,
                            np.zeros(int(trail * RATE), np.float32)])
    aug = augment.draw_plan(rng)
    scale = 1.0
    if aug.speed is not None:
        audio = augment.apply_speed(audio, aug.speed)
        scale = 1.0 / aug.speed
    duration = len(audio) / RATE
    phones = _shift(speech.phones, int(lead * RATE) / RATE, scale, duration)
    feats = compute_features(audio)
    analysis = Analysis(phones, feats.energy_db, feats.f0_hz, duration, feats.fps, "synthetic-tts")
    emotion = programs.draw_emotion(rng, duration)
    pose = programs.draw_pose(rng)
    values = _targets(pipeline, analysis, emotion.track, pose)
    final = augment.apply_after_timing(audio, aug)
    words_per_s = len(sentence.text.split()) / max(speech.duration * scale, 1e-3)
    levels = text.describe(rng, values, FPS, emotion, None, words_per_s)
    meta = {"kind": "speech", "sentence": sentence.id, "transcript": sentence.text, "rate": plan.rate,
            "timing": speech.timing, "augment": aug.describe(), "emotion_kind": emotion.kind,
            "phones": [[p.label, round(p.start, 4), round(p.end, 4)] for p in analysis.phones]}
    return _arrays(final, values, emotion.track, pose, with_mel), _meta(plan, meta, pose, emotion.track, levels,
                                                                         final, values)


def build_actions(plan: ExamplePlan, pipeline: Any, with_mel: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A text-only clip: facial actions on a silent take, with (near-)silent audio."""
    rng = np.random.default_rng(plan.seed)
    program = programs.draw_actions(rng)
    duration = program.duration
    n = int(round(duration * RATE))
    duration = n / RATE
    n_feat = int(math.ceil(duration * 100))
    analysis = Analysis((PhoneSpan(SILENCE, 0.0, duration),), np.full(n_feat, -100.0, np.float32),
                        np.zeros(n_feat, np.float32), duration, 100.0, "silent")
    track = programs.action_emotion(program)
    pose = ("calm", int(rng.integers(0, 2**31 - 1)), int(rng.integers(0, 2**31 - 1)))
    values = programs.apply_actions(_targets(pipeline, analysis, track, pose), program, FPS, rng)
    audio = np.zeros(n, np.float32)
    aug = augment.AugmentPlan(seed=int(rng.integers(0, 2**31 - 1)))
    if rng.random() < 0.5:
        aug = augment.AugmentPlan(noise={"colour": str(rng.choice(augment.NOISE_COLOURS)),
                                         "snr_db": float(rng.uniform(5.0, 35.0))}, seed=aug.seed)
    final = augment.apply_after_timing(audio, aug)
    emotions = [programs.ACTIONS[e.action].emotion for e in program.events]
    named = tuple((name, level) for name, level in (e for e in emotions if e is not None))
    kind = "neutral" if not named else "pulse" if len(named) == 1 else "switch"
    emotion = programs.EmotionProgram(kind, track, named[:2])
    levels = text.describe(rng, values, FPS, emotion, program)
    meta = {"kind": "actions", "sentence": None, "transcript": "", "rate": 1.0, "timing": "none",
            "augment": aug.describe(), "emotion_kind": kind,
            "actions": [[e.action, round(e.start, 4), round(e.end, 4), round(e.intensity, 4)] for e in program.events],
            "phones": [[SILENCE, 0.0, round(duration, 4)]]}
    return _arrays(final, values, track, pose, with_mel), _meta(plan, meta, pose, track, levels, final, values)


def _arrays(audio: np.ndarray, values: np.ndarray, track: Any, pose: tuple[str, int, int],
            with_mel: bool) -> dict[str, np.ndarray]:
    times = np.arange(values.shape[1]) / FPS
    out = {"audio": np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16), "arkit": values,
           "emotion": track.sample(times), "pose_style": POSE_STYLES.index(pose[0])}
    if with_mel:
        from mmface_studio.audio.features import compute_features

        out["mel"] = compute_features(audio).mel.T.astype(np.float16)
    return out


def _meta(plan: ExamplePlan, extra: dict[str, Any], pose: tuple[str, int, int], track: Any,
          levels: dict[str, str], audio: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    return {"id": f"ex{plan.index:07d}", "split": plan.split, "voice": plan.voice, "seed": plan.seed,
            "pose_style": pose[0], "pose_seed": pose[1], "blink_seed": pose[2], "emotion_keys": track.to_text(),
            "text": levels, "n_samples": int(len(audio)), "n_frames": int(values.shape[1]),
            "duration": round(len(audio) / RATE, 4), **extra}


# --- shards ---------------------------------------------------------------------------------------------------


def _digest(plans: Sequence[ExamplePlan], with_mel: bool) -> str:
    text_ = repr(([asdict(p) for p in plans], with_mel, shards.VERSION))
    return hashlib.blake2b(text_.encode(), digest_size=12).hexdigest()


def build_shard(out: str, k: int, plans: Sequence[ExamplePlan], voices: dict[str, Voice],
                with_mel: bool) -> dict[str, Any]:
    """Build and write shard ``k``; returns its index entry. Skips a shard already written for the same plans."""
    root, stem = Path(out), shards.shard_stem(k)
    digest = _digest(plans, with_mel)
    meta_path, npz_path = root / f"{stem}.json", root / f"{stem}.npz"
    if meta_path.exists() and npz_path.exists():
        try:
            import json

            old = json.loads(meta_path.read_text(encoding="utf-8"))
            if old.get("plan_digest") == digest:
                return _entry(stem, old["examples"])
        except (OSError, ValueError):
            pass
    pool = {s.id: s for s in sentence_pool()}
    speech_by_plan: dict[int, Any] = {}
    by_voice: dict[str, list[ExamplePlan]] = {}
    for plan in plans:
        if plan.kind == "speech":
            by_voice.setdefault(str(plan.voice), []).append(plan)
    for voice_id in sorted(by_voice):
        group = by_voice[voice_id]
        spoken = synthesize_batch(voices[voice_id], [(pool[str(p.sentence)].text, p.rate) for p in group])
        speech_by_plan.update({p.index: s for p, s in zip(group, spoken, strict=True)})
    pipeline = _pipeline()
    arrays, metas = [], []
    for plan in plans:
        if plan.kind == "speech":
            a, m = build_speech(plan, speech_by_plan[plan.index], pool[str(plan.sentence)], pipeline, with_mel)
        else:
            a, m = build_actions(plan, pipeline, with_mel)
        arrays.append(a)
        metas.append(m)
    packed = shards.pack(arrays, with_mel)
    for i, m in enumerate(metas):
        m["shard_index"] = i
    shards.write_npz(npz_path, packed)
    shards.write_json(meta_path, {"format": shards.FORMAT, "shard": k, "plan_digest": digest, "examples": metas})
    return _entry(stem, metas)


def _entry(stem: str, metas: Sequence[dict[str, Any]]) -> dict[str, Any]:
    splits = Counter(m["split"] for m in metas)
    seconds = Counter()
    for m in metas:
        seconds[m["split"]] += m["duration"]
    return {"file": f"{stem}.npz", "meta": f"{stem}.json", "examples": len(metas),
            "seconds": round(sum(seconds.values()), 3), "splits": {s: splits.get(s, 0) for s in SPLITS},
            "split_seconds": {s: round(seconds.get(s, 0.0), 3) for s in SPLITS},
            "kinds": dict(sorted(Counter(m["kind"] for m in metas).items()))}


def build_corpus(out: str | Path, config: CorpusConfig, workers: int = 1,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the corpus to ``out``; returns the index plus a ``"build"`` entry with wall time and throughput.

    The index on disk has no timings, so that two builds with the same seed are identical files.
    ``workers`` > 1 starts processes with the "spawn" method (no inherited threads or state; the
    same results as one worker), so a script calling this must guard its entry point with
    ``if __name__ == "__main__":`` (the ``mmface-studio`` command does).
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    voices = available_voices(config.backends)
    if not voices:
        raise CorpusError("No voice can speak: espeak-ng (and festival / Piper) are not available.")
    plans = plan_corpus(config, voices)
    groups = shard_plans(plans, config.shard_seconds)
    lookup = {v.id: v for v in voices}
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    entries: dict[int, dict[str, Any]] = {}
    say = progress or (lambda _msg: None)
    if workers <= 1:
        for k, group in enumerate(groups):
            entries[k] = build_shard(str(root), k, group, lookup, config.with_mel)
            say(_progress_line(entries, len(groups), started))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(build_shard, str(root), k, group, lookup, config.with_mel): k
                       for k, group in enumerate(groups)}
            for future in as_completed(futures):
                entries[futures[future]] = future.result()
                say(_progress_line(entries, len(groups), started))
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    index = _index(config, voices, [entries[k] for k in range(len(groups))])
    shards.write_json(root / shards.INDEX, index)
    corpus_s = index["totals"]["seconds"]
    return {**index, "build": {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "workers": workers,
                               "cpu_count": os.cpu_count(),
                               "corpus_minutes_per_wall_minute": round(corpus_s / max(wall, 1e-9), 2),
                               "corpus_minutes_per_cpu_minute": round(corpus_s / max(cpu, 1e-9), 2)}}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (workers, espeak-ng and festival processes).

    The build machine may be shared; CPU time says what the corpus costs whatever else is running.
    """
    try:
        import resource
    except ImportError:  # Windows: own process only
        return time.process_time()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _progress_line(entries: dict[int, dict[str, Any]], total: int, started: float) -> str:
    done = len(entries)
    seconds = sum(e["seconds"] for e in entries.values())
    wall = time.perf_counter() - started
    eta = wall / done * (total - done) if done else float("nan")
    return f"shard {done}/{total}: {seconds / 60:.1f} min of corpus in {wall:.0f} s, ETA {eta:.0f} s"


def _index(config: CorpusConfig, voices: Sequence[Voice], entries: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = Counter()
    counts = Counter()
    for e in entries:
        for s in SPLITS:
            seconds[s] += e["split_seconds"][s]
            counts[s] += e["splits"][s]
    return {
        "format": shards.FORMAT, "version": shards.VERSION, "seed": config.seed, "hours_requested": config.hours,
        "fps": FPS, "sample_rate": RATE, "space": "arkit52", "channels": list(ARKIT52.names),
        "emotions": list(EMOTIONS), "pose_styles": list(POSE_STYLES), "text_levels": list(text.LEVELS),
        "has_mel": config.with_mel, "targets": "classic engine (synthetic targets, not captured faces)",
        "voices": [{"id": v.id, "backend": v.backend, "split": v.split} for v in voices],
        "sentences": [{"id": s.id, "text": s.text, "split": s.split} for s in sentence_pool()],
        "shards": entries,
        "totals": {"examples": sum(counts.values()), "seconds": round(sum(seconds.values()), 3),
                   "split_examples": {s: counts[s] for s in SPLITS},
                   "split_seconds": {s: round(seconds[s], 3) for s in SPLITS}},
    }
