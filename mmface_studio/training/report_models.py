"""Yardsticks for ``training.report``: held-out clips of a synthetic corpus and three small models,
trained on its train split, that turn motion into numbers.

No pretrained evaluator for faces or head pose can be downloaded here, so the report trains its
own, briefly, on the corpus it scores against (the train split only: test voices and sentences
stay unseen by the yardsticks too):

- an **emotion classifier**: per-frame emotion (seed 003's 7 classes) from the 52 ARKit face
  channels through two 5-frame convolutions. The label of a frame is the emotion the *requested
  program* asked for there (``metrics.dominant_emotion`` of the clip's gamma_u curve), so "emotion
  fidelity" reads: does this face show the requested emotion to a classifier that learned what
  the teacher's faces look like under each request?
- the **pose FID feature extractor** of seed 002 (``engine.models.pose_features``), a conv
  autoencoder over head direction vectors, trained on train-split head-pose windows;
- the **text-motion retrieval model** (``training.retrieval``) behind R-precision: MiniLM
  sentence vectors of the clip's five text levels (their mean) against face + pose motion.

They are a function of the corpus alone, so they are cached beside it (``yardsticks/`` in the
corpus folder, or a folder the caller picks) as safetensors + JSON, keyed by the corpus index,
their config and steps: scores of different checkpoint sets stay comparable (same yardstick),
and a second report does not retrain them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mmface_studio.engine.models.base import channel_rows, face_channel_names, pose_channel_names
from mmface_studio.engine.models.pose_features import PoseFeatureConfig, PoseFeatureExtractor
from mmface_studio.engine.request import EMOTIONS, EmotionTrack, PhoneSpan
from mmface_studio.training.metrics import dominant_emotion
from mmface_studio.training.retrieval import RetrievalConfig, RetrievalModel

YARDSTICK_VERSION = 1
YARDSTICK_FORMAT = "mmface-report-yardstick"
FACE_ROWS: list[int] = channel_rows("arkit52", face_channel_names("arkit52"))
POSE_ROWS: list[int] = channel_rows("arkit52", pose_channel_names("arkit52"))
TEXT_LEVELS: tuple[str, ...] = ("action", "emotion", "expression", "head_pose", "scenario")
#: Pose FID features: 64-frame (2.1 s) windows and 16 features, so that the covariance of a few
#: hundred held-out windows is estimated from more samples than it has entries per row.
POSE_FEATURES = PoseFeatureConfig(space="arkit52", clip_frames=64, channels=32, hidden=128, feature_dim=16)
#: Retrieval: a small GRU (a wider one costs seconds per step on a busy 2-core CPU) on motion at
#: 15 fps (every second frame: emotion, actions and head pose are slower than that), trained on
#: windows of up to 6 s.
RETRIEVAL = RetrievalConfig(space="arkit52", hidden=64, latent_dim=64)
RETRIEVAL_STRIDE, RETRIEVAL_WINDOW = 2, 90
Say = Callable[[str], None]


@dataclass(frozen=True)
class YardstickSteps:
    """Optimiser steps per yardstick (a few hundred train in seconds to a minute on a 2-core CPU)."""

    emotion: int = 300
    pose: int = 400
    retrieval: int = 300


# --- the corpus, clip by clip ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CorpusClip:
    """One corpus example: 16 kHz audio, arkit52 targets (61 x T), requested emotion (T x 7), text, metadata."""

    id: str
    kind: str
    audio: np.ndarray
    motion: np.ndarray
    emotion: np.ndarray
    text: dict[str, str]
    meta: dict[str, Any] = field(repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[1])

    @property
    def phones(self) -> tuple[PhoneSpan, ...]:
        """The synthesiser's true phone timing (what the teacher was given)."""
        return tuple(PhoneSpan(str(a), float(b), float(c)) for a, b, c in self.meta.get("phones", ()))

    @property
    def emotion_track(self) -> EmotionTrack:
        """The requested emotion program, rebuilt from its keys (the same track the teacher got)."""
        return EmotionTrack.parse(self.meta.get("emotion_keys") or "neutral")

    @property
    def face(self) -> np.ndarray:
        return self.motion[FACE_ROWS].T

    @property
    def pose(self) -> np.ndarray:
        return self.motion[POSE_ROWS].T


def _levels(text: Any) -> dict[str, str]:
    text = text if isinstance(text, dict) else {}
    out = {}
    for level in TEXT_LEVELS:
        value = text.get(level, "")
        out[level] = "; ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value or "")
    return out


def load_clips(corpus: str | Path, split: str, kinds: Sequence[str] = ("speech", "actions"),
               limit: int | None = None) -> list[CorpusClip]:
    """The ``split`` examples of ``kinds``; with ``limit``, that many spread evenly over the corpus order
    (so a capped run still sees every shard's voices)."""
    from mmface_studio.training.synth.shards import open_shard, read_index

    root = Path(corpus)
    index = read_index(root)
    wanted: list[tuple[int, int]] = []
    for k, entry in enumerate(index["shards"]):
        meta = json.loads((root / entry["meta"]).read_text(encoding="utf-8"))
        wanted += [(k, i) for i, ex in enumerate(meta["examples"]) if ex["split"] == split and ex["kind"] in kinds]
    if limit is not None and len(wanted) > limit:
        wanted = [wanted[int(j)] for j in np.unique(np.linspace(0, len(wanted) - 1, max(limit, 1)).round())]
    out = []
    for k in sorted({k for k, _ in wanted}):
        shard = open_shard(root, index["shards"][k])
        for kk, i in wanted:
            if kk != k:
                continue
            ex = shard.example(i)
            m = ex["meta"]
            out.append(CorpusClip(str(m["id"]), str(m["kind"]), ex["audio"].astype(np.float32) / 32767.0,
                                  np.ascontiguousarray(ex["arkit"], np.float32),
                                  np.ascontiguousarray(ex["emotion"].T, np.float32), _levels(m.get("text")), m))
    return out


def corpus_key(corpus: str | Path) -> str:
    """Digest of the corpus index (which lists every shard's plan digest): changes when the corpus does."""
    return hashlib.sha256((Path(corpus) / "index.json").read_bytes()).hexdigest()[:16]


# --- the emotion classifier -------------------------------------------------------------------------


class EmotionClassifier(nn.Module):
    """Per-frame emotion logits (B, T, 7) from face channels (B, T, 52), 9 frames of context."""

    def __init__(self, channels: int = len(FACE_ROWS), hidden: int = 64, classes: int = len(EMOTIONS)) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, hidden, 5, padding=2), nn.GELU(),
                                 nn.Conv1d(hidden, hidden, 5, padding=2), nn.GELU(), nn.Conv1d(hidden, classes, 1))

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        return self.net(face.transpose(1, 2)).transpose(1, 2)

    @torch.no_grad()
    def frame_logits(self, face: np.ndarray) -> np.ndarray:
        """(T, 52) face channels -> (T, 7) logits."""
        self.eval()
        return self(torch.from_numpy(np.ascontiguousarray(face, np.float32))[None])[0].numpy()


def frame_labels(emotion: np.ndarray) -> np.ndarray:
    """(T,) requested dominant emotion per frame (neutral where no emotion reaches 0.1)."""
    return dominant_emotion(emotion)


# --- training and caching ---------------------------------------------------------------------------


def _windows(arrays: Sequence[np.ndarray], length: int, count: int, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray]:
    """``count`` random windows of ``length`` frames (edge-padded when a clip is shorter) and their clip ids."""
    picks = rng.integers(0, len(arrays), count)
    out = []
    for p in picks:
        a = arrays[p]
        if a.shape[0] < length:
            a = np.pad(a, [(0, length - a.shape[0])] + [(0, 0)] * (a.ndim - 1), mode="edge")
        s = int(rng.integers(0, a.shape[0] - length + 1))
        out.append(a[s:s + length])
    return np.stack(out), picks


def _fit(module: nn.Module, loss: Callable[[np.random.Generator], torch.Tensor], steps: int, lr: float,
         seed: int = 0) -> float:
    """Adam for ``steps`` on ``loss(rng)``; returns the mean loss of the last tenth of the steps.

    One intra-op thread: these batches are small, and on a shared 2-core machine a second thread
    mostly waits for a busy core (``layers.intra_op_threads``).
    """
    from mmface_studio.engine.models.layers import intra_op_threads

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    tail: list[float] = []
    with intra_op_threads(1):
        for step in range(max(steps, 1)):
            value = loss(rng)
            opt.zero_grad(set_to_none=True)
            value.backward()
            nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            if step >= steps * 0.9 or steps < 10:
                tail.append(float(value.detach()))
    module.eval()
    return float(np.mean(tail))


def _key(corpus: str, name: str, config: dict[str, Any], steps: int) -> str:
    text = json.dumps([YARDSTICK_VERSION, corpus, name, config, steps], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _load(module: nn.Module, stem: Path, key: str) -> dict[str, Any] | None:
    """The cached weights when their key matches (else None: retrain); never unpickles anything."""
    from safetensors.torch import load_file

    meta_path, weights = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    try:
        doc = json.loads(meta_path.read_text(encoding="utf-8"))
        if doc.get("format") != YARDSTICK_FORMAT or doc.get("key") != key:
            return None
        module.load_state_dict(load_file(str(weights)), strict=True)
    except (OSError, ValueError, RuntimeError):
        return None
    module.eval()
    return doc


def _save(module: nn.Module, stem: Path, doc: dict[str, Any]) -> bool:
    """Weights first, then the JSON that makes them valid (both atomic); False when the folder is not writable."""
    from safetensors.torch import save

    from mmface_studio.core.atomic import atomic_write

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    blob = save(tensors, metadata={"format": YARDSTICK_FORMAT})
    text = json.dumps({"format": YARDSTICK_FORMAT, **doc}, indent=2, allow_nan=False) + "\n"
    try:
        atomic_write(stem.with_suffix(".safetensors"), lambda h: h.write(blob))
        atomic_write(stem.with_suffix(".json"), lambda h: h.write(text.encode()))
    except OSError:
        return False
    return True


def _cached(module: nn.Module, cache: Path | None, name: str, key: str, train: Callable[[], float],
            extra: dict[str, Any], say: Say) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load ``name`` from the cache or train it (and cache it); returns (its info for the report, its JSON doc)."""
    stem = cache / name if cache is not None else None
    doc = _load(module, stem, key) if stem is not None else None
    if doc is not None:
        say(f"{name}: loaded from {stem}.safetensors")
        return {"cached": True, "path": str(stem) + ".safetensors", **doc.get("trained", {})}, doc
    started = time.perf_counter()
    say(f"{name}: training on the train split ...")
    final = train()
    trained = {"final_loss": round(final, 5), "train_seconds": round(time.perf_counter() - started, 1)}
    doc = {"key": key, "trained": trained, **extra}
    saved = stem is not None and _save(module, stem, doc)
    say(f"{name}: {trained['train_seconds']} s, final loss {final:.4f}" + (f", cached as {stem}" if saved else ""))
    return {"cached": False, "path": str(stem) + ".safetensors" if saved else None, **trained}, doc


# --- the bundle ----------------------------------------------------------------------------------------


@dataclass
class Retrieval:
    """The retrieval model with the train split's per-channel motion statistics it was trained under."""

    model: RetrievalModel
    mean: np.ndarray
    std: np.ndarray

    @torch.no_grad()
    def motion_embeddings(self, motions: Sequence[np.ndarray]) -> np.ndarray:
        """(T_i, 55) face + pose takes -> (N, latent) unit vectors."""
        self.model.eval()
        motions = [m[::RETRIEVAL_STRIDE] for m in motions]
        longest = max(m.shape[0] for m in motions)
        x = np.zeros((len(motions), longest, len(self.mean)), np.float32)
        for i, m in enumerate(motions):
            x[i, :m.shape[0]] = (m - self.mean) / self.std
        lengths = torch.tensor([m.shape[0] for m in motions])
        return self.model.encode_motion(torch.from_numpy(x), lengths).numpy()

    @torch.no_grad()
    def text_embeddings(self, sentence_vectors: np.ndarray) -> np.ndarray:
        self.model.eval()
        return self.model.encode_text(torch.from_numpy(np.asarray(sentence_vectors, np.float32))).numpy()


@dataclass
class Yardsticks:
    emotion: EmotionClassifier
    pose: PoseFeatureExtractor
    retrieval: Retrieval | None
    info: dict[str, Any]


def text_vectors(encoder: Any, texts: Sequence[dict[str, str]], batch: int = 64) -> np.ndarray:
    """(N, dim): per clip the mean of its non-empty levels' MiniLM sentence vectors, re-normalised."""
    flat = [(i, t) for i, levels in enumerate(texts) for t in levels.values() if t.strip()]
    flat.sort(key=lambda item: len(item[1]))  # batches of similar length: little padding to encode
    out = np.zeros((len(texts), int(encoder.dim)), np.float32)
    for a in range(0, len(flat), batch):
        chunk = flat[a:a + batch]
        vectors = encoder.encode([t for _, t in chunk]).sentence.float().cpu().numpy()
        for (i, _), v in zip(chunk, vectors, strict=True):
            out[i] += v
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-8)


def motion_rows(motion: np.ndarray) -> np.ndarray:
    """(61, T) arkit52 values -> (T, 55) face + pose, the retrieval model's (and MM2Face's) motion."""
    return np.ascontiguousarray(motion[FACE_ROWS + POSE_ROWS].T, np.float32)


def build_yardsticks(corpus: str | Path, cache: Path | None, *, steps: YardstickSteps = YardstickSteps(),
                     text_encoder: Any = None, say: Say = lambda _m: None) -> Yardsticks:
    """Load or train the three yardsticks on the train split of ``corpus`` (see the module docstring).

    ``text_encoder``: the MiniLM encoder (None: no retrieval model, e.g. when no MM2Face is scored).
    """
    ckey = corpus_key(corpus)
    train: list[CorpusClip] | None = None

    def clips() -> list[CorpusClip]:
        nonlocal train
        if train is None:
            train = load_clips(corpus, "train")
            if not train:
                raise ValueError(f"{corpus} has no train split to train the report's yardsticks on.")
        return train

    info: dict[str, Any] = {"cache": str(cache) if cache is not None else None, "corpus_key": ckey}

    emotion = EmotionClassifier()

    def fit_emotion() -> float:
        faces = [c.face for c in clips()]
        labels = [frame_labels(c.emotion)[:, None] for c in clips()]
        joined = [np.concatenate([f, lab.astype(np.float32)], axis=1) for f, lab in zip(faces, labels, strict=True)]

        def loss(rng: np.random.Generator) -> torch.Tensor:
            w, _ = _windows(joined, 60, 16, rng)
            x = torch.from_numpy(w[..., :-1])
            y = torch.from_numpy(w[..., -1].astype(np.int64))
            return F.cross_entropy(emotion(x).reshape(-1, len(EMOTIONS)), y.reshape(-1))

        return _fit(emotion, loss, steps.emotion, 3e-3)

    key = _key(ckey, "emotion", {"hidden": 64}, steps.emotion)
    info["emotion_classifier"], _ = _cached(emotion, cache, "emotion_classifier", key, fit_emotion,
                                            {"steps": steps.emotion}, say)

    pose = PoseFeatureExtractor(POSE_FEATURES)

    def fit_pose() -> float:
        takes = [c.pose for c in clips()]

        def loss(rng: np.random.Generator) -> torch.Tensor:
            w, _ = _windows(takes, POSE_FEATURES.clip_frames, 32, rng)
            return pose.reconstruction_loss(torch.from_numpy(w))

        return _fit(pose, loss, steps.pose, 1e-3)

    key = _key(ckey, "pose_features", asdict(POSE_FEATURES), steps.pose)
    info["pose_features"], _ = _cached(pose, cache, "pose_features", key, fit_pose,
                                       {"steps": steps.pose, "config": asdict(POSE_FEATURES)}, say)
    retrieval = None
    if text_encoder is not None:
        retrieval = _retrieval(ckey, cache, steps, text_encoder, clips, info, say)
    return Yardsticks(emotion, pose, retrieval, info)


def _retrieval(ckey: str, cache: Path | None, steps: YardstickSteps, encoder: Any,
               clips: Callable[[], list[CorpusClip]], info: dict[str, Any], say: Say) -> Retrieval:
    model = RetrievalModel(RETRIEVAL)
    extra: dict[str, Any] = {"steps": steps.retrieval}

    def fit() -> float:
        motions = [motion_rows(c.motion) for c in clips()]
        stacked = np.concatenate(motions)
        mean, std = stacked.mean(0), np.maximum(stacked.std(0), 0.01)
        extra["motion_mean"], extra["motion_std"] = mean.tolist(), std.tolist()  # cached with the weights
        say(f"retrieval: encoding {len(motions)} train texts with MiniLM ...")
        vectors = torch.from_numpy(text_vectors(encoder, [c.text for c in clips()]))
        normed = [((m - mean) / std)[::RETRIEVAL_STRIDE] for m in motions]
        batch = min(32, len(normed))

        def loss(rng: np.random.Generator) -> torch.Tensor:
            picks = rng.choice(len(normed), batch, replace=False)
            crops = []
            for p in picks:
                start = int(rng.integers(0, max(normed[p].shape[0] - RETRIEVAL_WINDOW, 0) + 1))
                crops.append(normed[p][start:start + RETRIEVAL_WINDOW])
            x = np.zeros((batch, max(c.shape[0] for c in crops), normed[0].shape[1]), np.float32)
            for j, c in enumerate(crops):
                x[j, :c.shape[0]] = c
            lengths = torch.tensor([c.shape[0] for c in crops])
            return model.loss(vectors[torch.from_numpy(picks)], torch.from_numpy(x), lengths)

        return _fit(model, loss, steps.retrieval, 1e-3)

    setup = asdict(RETRIEVAL) | {"text": getattr(encoder, "name", ""), "stride": RETRIEVAL_STRIDE,
                                 "window": RETRIEVAL_WINDOW}
    key = _key(ckey, "retrieval", setup, steps.retrieval)
    info["retrieval"], doc = _cached(model, cache, "retrieval", key, fit, extra, say)
    return Retrieval(model, np.asarray(doc["motion_mean"], np.float32), np.asarray(doc["motion_std"], np.float32))
