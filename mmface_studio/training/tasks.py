"""What each family optimises on a batch (the trainer in ``training.trainer`` does the rest).

Batches come from ``training.datasets.collate``: ``motion`` (B, T, C) with ``motion_mask``,
``audio`` (B, N) at 16 kHz, optionally ``mel`` (B, F, 80) with ``mel_mask``, ``emotion`` (B, T, 7),
``pose_style`` (B,), ``text`` (level -> list of strings), ``has_audio`` (B,).

    audio2flame  one phase: seed 003 Eq. 4 (vertex + mouth-shape loss through the built-in head's
                 linear blendshape basis) on the emotion-augmented face with the clip's own
                 emotion as gamma (the seed's video prior), + the bi-LSTM emotion loss
    resnet1d     one phase: seed 004 Eq. 8 (per-frame L2) + beta x the decoding matrix sparsity;
                 the style reference is the clip's own motion reversed in time (same statistics,
                 none of the timing, so the modulation cannot copy the answer), and half the
                 examples train the default style the engine uses instead. On the synthetic
                 corpus (arkit52) the target is the *neutral* lip sync (:func:`neutral_lipsync`):
                 the engine lays the emotion overlay and blinks on this family's output itself
    pose         "vqvae" then "generator" (seed 002: codes first, then the AR model on frozen codes)
    mm2face      "vqvae" then "transformer" (seed 001 stage I then stage II)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from mmface_studio.engine.models.base import channel_rows, face_channel_names, pose_channel_names
from mmface_studio.training.trainer import Phase


def _rows(space: str, pose: bool = False) -> list[int]:
    return channel_rows(space, pose_channel_names(space) if pose else face_channel_names(space))


def mel_batch(batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, F, 80) log-mel features and their mask: from the corpus when stored, else computed here."""
    if "mel" in batch:
        return batch["mel"], batch["mel_mask"]
    from mmface_studio.audio.clip import clip_from_array
    from mmface_studio.audio.features import compute_features

    audio = batch["audio"].detach().cpu().numpy()
    lengths = batch["audio_lengths"].cpu().numpy()
    mels = [compute_features(clip_from_array(a[:max(int(n), 400)], 16_000)).mel for a, n in zip(audio, lengths,
                                                                                                strict=True)]
    longest = max(m.shape[0] for m in mels)
    out = np.zeros((len(mels), longest, mels[0].shape[1]), np.float32)
    mask = np.zeros((len(mels), longest), bool)
    for i, m in enumerate(mels):
        out[i, :m.shape[0]], mask[i, :m.shape[0]] = m, True
    device = batch["motion"].device
    return torch.from_numpy(out).to(device), torch.from_numpy(mask).to(device)


def motion_statistics(dataset: Any, rows: list[int], limit: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``rows`` over (up to ``limit``) examples spread through the dataset.

    Deterministic (evenly spaced examples), so every DDP rank computes the same numbers.
    """
    count = len(dataset)
    picks = np.unique(np.linspace(0, count - 1, min(limit, count)).astype(int))
    frames = [dataset[int(i)]["motion"][:, rows] for i in picks]
    stacked = torch.cat([f for f in frames if f.shape[0]], dim=0).double()
    return stacked.mean(0).float(), stacked.std(0).float()


class _FaceBasis:
    """The built-in head's blendshape basis on a vertex subset, and the four mouth landmarks (seed 003 L_lm)."""

    def __init__(self, stride: int = 3) -> None:
        from mmface_studio.rig.loading import load_rig
        from mmface_studio.training.metrics import face_regions

        rig = load_rig()
        regions = face_regions(rig)
        rest = rig.rest_vertices().astype(np.float32)
        face = np.asarray(regions.face)
        keep = np.unique(np.concatenate([face[::stride], np.asarray(regions.lips)]))
        lips = np.searchsorted(keep, np.asarray(regions.lips))
        pts = rest[keep][lips]
        centre_x = float(np.median(pts[:, 0]))
        middle = np.abs(pts[:, 0] - centre_x) < 0.004
        column = np.flatnonzero(middle) if middle.any() else np.arange(len(pts))
        self.mouth = [int(lips[column[np.argmax(pts[column, 1])]]), int(lips[column[np.argmin(pts[column, 1])]]),
                      int(lips[np.argmin(pts[:, 0])]), int(lips[np.argmax(pts[:, 0])])]
        self.basis = torch.from_numpy(np.asarray(rig.blendshape_deltas(), np.float32)[:, keep])
        self.template = torch.from_numpy(rest[keep])


def neutral_lipsync(face: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """The classic engine's lip sync before its emotion overlay, from a composed arkit52 face.

    ``face`` (B, T, 52) in ``ARKIT_BLENDSHAPES`` order, ``gamma`` (B, T, 7) the clip's emotion
    intensities. Inverts ``engine.classic.emotion.apply_emotion`` (subtract the emotion
    directions, undo the articulation gain) and zeroes the blink and gaze shapes, which compose
    sets from the blink plan. Why: for ResNet1D and MM2Face in arkit52 the neural engine applies
    that overlay and the blinks to the model's output, so a model trained on emotional, blinking
    targets learns their unpredictable average and the engine then adds the emotion a second
    time. The inverse is exact except where the overlay clipped at 0 or 1 (rare) and for the
    follow-voice term (weight 0.1), which the corpus does not store.
    """
    from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
    from mmface_studio.engine.classic import emotion as em

    directions = torch.from_numpy(em.DIRECTIONS).to(face)
    gain_per = torch.from_numpy(em.LIPSYNC_GAIN).to(face)
    neutral = face - gamma.to(face) @ directions
    rows = [ARKIT_BLENDSHAPES.index(c) for c in em.ARTICULATION]
    gain = (1.0 + gamma.to(face) @ gain_per).clamp_min(0.25)[..., None]
    neutral[..., rows] = neutral[..., rows] / gain
    owned = [i for i, c in enumerate(ARKIT_BLENDSHAPES) if c.startswith(("eyeBlink", "eyeLook"))]
    neutral[..., owned] = 0.0
    return neutral.clamp(0.0, 1.0)


class Audio2FlameTask:
    family = "audio2flame"
    targets = "the composed face; its emotion-augment network learns the clip's emotion program"

    def __init__(self, emotion_weight: float = 0.1) -> None:
        self.emotion_weight = emotion_weight
        self._basis: _FaceBasis | None = None

    def phases(self, total_steps: int) -> list[Phase]:
        return [Phase("main", total_steps)]

    def loss(self, model: Any, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        from mmface_studio.engine.models.audio2flame import audio2flame_loss
        from mmface_studio.engine.models.emotion_control import emotion_prior_loss

        if model.config.space != "arkit52":
            raise ValueError("Audio2FLAME training here uses the built-in head's ARKit basis (space arkit52).")
        if self._basis is None:
            self._basis = _FaceBasis()
        mel, _ = mel_batch(batch)
        target = batch["motion"][..., _rows("arkit52")]
        mask = batch["motion_mask"]
        n = target.shape[1]
        enc = model.encode(mel, n)
        base = model.content(mel, n, enc)
        gamma = batch["emotion"]
        face = model.augment(base, gamma)
        basis = self._basis.basis.to(face.device)
        # Padded frames: prediction := target, so they add nothing (the loss's mask is over vertices).
        face = torch.where(mask[..., None], face, target)
        losses = audio2flame_loss(face, target, basis, self._basis.mouth, self._basis.template.to(face.device))
        logits = model.emotion_predictor(enc.joined())
        emotion = emotion_prior_loss(logits, 4.0 * gamma, mask)
        total = losses["loss"] + self.emotion_weight * emotion
        return {"loss": total, "vertex": losses["vertex"], "mouth": losses["mouth"], "emotion": emotion}


class ResNet1DTask:
    family = "resnet1d"
    targets = ("the neutral lip sync (the classic emotion overlay undone, blinks and gaze zeroed); "
               "the engine lays emotion and blinks on it")

    def __init__(self, sparsity_weight: float = 1e-6) -> None:
        self.sparsity_weight = sparsity_weight

    def phases(self, total_steps: int) -> list[Phase]:
        return [Phase("main", total_steps)]

    def loss(self, model: Any, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        from mmface_studio.engine.models.resnet1d import regression_loss

        space = model.config.space
        mel, _ = mel_batch(batch)
        target = batch["motion"][..., _rows(space)]
        if space == "arkit52" and "emotion" in batch:
            target = neutral_lipsync(target, batch["emotion"])
        mask = batch["motion_mask"]
        reference = torch.flip(target, dims=[1])
        # Every other example uses the learned default style instead of its reference: the engine
        # has no reference clip and uses that default, which otherwise would never be trained.
        # By batch position, not by a random draw, so DDP ranks (contiguous slices of an even
        # size) drop the same examples as one process with the whole batch.
        style = model.style_code(reference)
        default = torch.arange(style.shape[0], device=style.device)[:, None] % 2 == 0
        style = torch.where(default, model.style_code(None, batch=style.shape[0]), style)
        pred = model(mel, target.shape[1], style=style)
        data = regression_loss(pred, target, mask)
        sparsity = model.sparsity_penalty()
        return {"loss": data + self.sparsity_weight * sparsity, "l2": data, "sparsity": sparsity}


class PoseTask:
    family = "pose"
    targets = "head yaw, pitch and roll of the classic head-motion program, with its style label"

    def prepare(self, model: Any, dataset: Any) -> None:
        mean, std = motion_statistics(dataset, _rows(model.config.space, pose=True))
        model.vqvae.set_pose_statistics(mean, std)

    def phases(self, total_steps: int) -> list[Phase]:
        half = total_steps // 2
        return [Phase("vqvae", half, lambda m: m.vqvae.parameters()),
                Phase("generator", total_steps - half,
                      lambda m: [p for n, p in m.named_parameters() if not n.startswith("vqvae.")])]

    def loss(self, model: Any, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        from mmface_studio.engine.models.pose import generator_loss, vqvae_losses

        pose = batch["motion"][..., _rows(model.config.space, pose=True)]
        valid = batch["motion_mask"]
        if phase == "vqvae":
            parts = vqvae_losses(model, pose, valid)
            return {"loss": parts["total"], "reconstruction": parts["reconstruction"],
                    "perplexity": parts["perplexity"]}
        mel, _ = mel_batch(batch)
        ce = generator_loss(model, mel, pose, batch["pose_style"], valid)
        return {"loss": ce, "cross_entropy": ce}


class _TextCache:
    """MiniLM token embeddings per distinct string (wordings repeat across a corpus)."""

    def __init__(self, size: int = 20_000) -> None:
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._size = size
        self._encoder: Any = None

    def _fill(self, texts: list[str]) -> None:
        """Encode the strings not cached yet, batched by length (one string at a time is ~20x slower)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._items))
        if missing:
            if self._encoder is None:
                from mmface_studio.engine.encoders.text import load_text_encoder

                self._encoder = load_text_encoder(device="cpu")
            missing.sort(key=len)  # similar lengths per call: padding costs as much as text
            for start in range(0, len(missing), 16):
                chunk = missing[start:start + 16]
                enc = self._encoder.encode([t or "" for t in chunk])
                for i, text in enumerate(chunk):
                    self._items[text] = enc.tokens[i][enc.mask[i]].detach().float().cpu()
        for text in texts:
            self._items.move_to_end(text)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def batch(self, texts: dict[str, list[str]], device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        from mmface_studio.engine.encoders.text import TEXT_LEVELS

        out = {}
        self._fill([t for level in TEXT_LEVELS for t in texts.get(level, [])])
        for level in TEXT_LEVELS:
            rows = [self._items[t] for t in texts.get(level, [])]
            if not rows:
                continue
            longest = max(1, max(r.shape[0] for r in rows))
            emb = torch.zeros(len(rows), longest, rows[0].shape[1])
            mask = torch.zeros(len(rows), longest, dtype=torch.bool)
            for i, r in enumerate(rows):
                emb[i, :r.shape[0]], mask[i, :r.shape[0]] = r, True
            out[level] = (emb.to(device), mask.to(device))
        return out


class MM2FaceTask:
    family = "mm2face"
    targets = "the composed face and head pose, with the clip's five-level text"

    def __init__(self) -> None:
        self._text = _TextCache()

    def prepare(self, model: Any, dataset: Any) -> None:
        space = model.config.space
        mean, std = motion_statistics(dataset, _rows(space) + _rows(space, pose=True))
        model.vqvae.set_normalization(mean, std)

    def phases(self, total_steps: int) -> list[Phase]:
        first = int(total_steps * 0.4)
        return [Phase("vqvae", first, lambda m: m.vqvae.parameters()),
                Phase("transformer", total_steps - first,
                      lambda m: [p for n, p in m.named_parameters() if not n.startswith("vqvae.")])]

    def motion(self, batch: dict[str, Any], space: str) -> torch.Tensor:
        return batch["motion"][..., _rows(space) + _rows(space, pose=True)]

    def loss(self, model: Any, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        motion = self.motion(batch, model.config.space)
        mask = batch["motion_mask"]
        if phase == "vqvae":
            parts = model.vqvae_loss(motion, mask=mask)
            return {"loss": parts["total"], "recon": parts["recon"]}
        with torch.no_grad():
            was = model.vqvae.training
            model.vqvae.eval()
            tokens = model.vqvae.encode(motion)
            model.vqvae.train(was)
        token_mask = mask[:, ::model.vqvae.downsample][:, :tokens.shape[1]]
        mel, mel_mask = mel_batch(batch)
        mel_mask = mel_mask & batch["has_audio"].to(mel_mask.device)[:, None]
        text = self._text.batch(batch["text"], motion.device)
        ce = model.token_loss(tokens, text, mel, audio_mask=mel_mask, token_mask=token_mask)
        return {"loss": ce, "cross_entropy": ce}


TASKS: dict[str, type] = {"audio2flame": Audio2FlameTask, "resnet1d": ResNet1DTask, "pose": PoseTask,
                          "mm2face": MM2FaceTask}
