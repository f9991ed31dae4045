"""torch Datasets for the three data sources, and one collate function that pads and masks.

- :class:`FlameDataset`: MMHead / MEAD-3D style folders (FLAME 56-dim .npy + audio + text JSON);
- :class:`ArkitCsvDataset`: Live Link Face CSV captures + audio (+ optional text JSON);
- :class:`SyntheticDataset`: the synthetic corpus shards (``training.synth``).

The folder layouts are defined in ``training.data_check`` (shared with ``mmface-studio data
check``). Every dataset yields the same kind of item, so trainers do not care where data came
from:

    id          str
    audio       float32 (N,)  16 kHz mono; zeros for clips without speech (``has_audio`` False)
    motion      float32 (T, C) at ``fps``: flame56 (C = 56) or arkit52 (C = 61: 52 shapes + 9 angles)
    fps         float
    space       "flame56" or "arkit52"
    has_audio   bool
    text        dict of the five levels (action, emotion, expression, head_pose, scenario), "" if unknown
    split       str ("" when the folder defines none)
    emotion     float32 (T, 7)  synthetic only: gamma_u per frame
    pose_style  int             synthetic only
    mel         float32 (F, 80) synthetic only, when the corpus has it

Batch-first, time-major (T, C) because the model families take (B, T, D) tensors
(``engine.models.base``). :func:`collate` pads every variable-length tensor with zeros and adds
``<key>_mask`` (True on real samples/frames) and ``<key>_lengths``.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmface_studio.core.spaces import FLAME56_CORE
from mmface_studio.training import data_check as layout_io

SAMPLE_RATE = 16_000
_VARIABLE = ("audio", "motion", "emotion", "mel")


def _load_audio(path: Path | None, seconds: float) -> tuple[np.ndarray, bool]:
    """16 kHz mono float32 (fast path: soundfile + polyphase resampling; the checker validates files)."""
    if path is None:
        return np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32), False
    import soundfile as sf

    from mmface_studio.audio.clip import resample

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), int(rate), SAMPLE_RATE), True


def resample_motion(values: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """(T, C) at ``fps`` -> (T', C) at ``target_fps`` by linear interpolation; T' = ceil(duration * target)."""
    if abs(fps - target_fps) < 1e-9 or values.shape[0] < 2:
        return values
    duration = values.shape[0] / fps
    n = max(1, int(math.ceil(duration * target_fps - 1e-6)))
    src = np.arange(values.shape[0]) / fps
    dst = np.arange(n) / target_fps
    return np.stack([np.interp(dst, src, values[:, c]) for c in range(values.shape[1])], axis=1).astype(np.float32)


def _crop(item: dict[str, Any], max_seconds: float | None, generator: torch.Generator | None) -> dict[str, Any]:
    """A random window of at most ``max_seconds``, the same span of audio and motion (and emotion, mel)."""
    fps = item["fps"]
    frames = item["motion"].shape[0]
    if max_seconds is None or frames <= int(max_seconds * fps):
        return item
    length = int(max_seconds * fps)
    start = int(torch.randint(0, frames - length + 1, (1,), generator=generator))
    t0, t1 = start / fps, (start + length) / fps
    out = dict(item)
    for key in ("motion", "emotion"):
        if key in out:
            out[key] = out[key][start:start + length]
    out["audio"] = out["audio"][int(round(t0 * SAMPLE_RATE)):int(round(t1 * SAMPLE_RATE))]
    if "mel" in out:
        out["mel"] = out["mel"][int(round(t0 * 100)):int(round(t1 * 100))]
    return out


class CropEpochs:
    """Random crops that are a function of (seed, example index, epoch), set by the trainer.

    Not one shared generator, nor a count of fetches: which examples a process fetches, and how
    often it has fetched one before, depend on the number of DDP ranks (and on where a resumed run
    started); the crops must not, so that 2 processes with batch B train exactly like 1 with
    batch 2B and a resumed run sees the crops an uninterrupted one would have.
    """

    generator: torch.Generator | None = None
    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def crop_generator(self, index: int) -> torch.Generator | None:
        if self.generator is None:
            return None
        seed = self.generator.initial_seed() * 1_000_003 + index * 7_919 + self.epoch * 104_729
        return torch.Generator().manual_seed(seed % (2**63))


class _FolderDataset(CropEpochs, Dataset):
    """Shared part of the two real-data layouts: discovery, splits, text, audio, fps, cropping."""

    space = ""

    def __init__(self, root: str | Path, split: str | None = None, fps: float | None = None,
                 max_seconds: float | None = None, generator: torch.Generator | None = None) -> None:
        self.layout = layout_io.read_layout(root)
        expected = "flame" if isinstance(self, FlameDataset) else "arkit-csv"
        if self.layout.format != expected:
            raise layout_io.LayoutError(f"{root} holds format {self.layout.format!r}; "
                                        f"{type(self).__name__} reads {expected!r}.")
        splits = layout_io.read_splits(self.layout)
        clips = layout_io.find_clips(self.layout)
        self.splits = {c.id: splits.get(c.id, self._text_split(c)) for c in clips}
        self.clips = [c for c in clips if split is None or self.splits[c.id] == split]
        self.fps = float(fps or self.layout.fps)
        self.max_seconds, self.generator = max_seconds, generator

    @staticmethod
    def _text_split(clip: layout_io.Clip) -> str:
        if clip.text is None:
            return ""
        try:
            return str(layout_io.read_text(clip.text).get("split", ""))
        except ValueError:
            return ""

    def __len__(self) -> int:
        return len(self.clips)

    def _motion(self, clip: layout_io.Clip) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self.clips[index]
        motion = self._motion(clip)
        data = layout_io.read_text(clip.text) if clip.text is not None else {}
        audio, has_audio = _load_audio(clip.audio, motion.shape[0] / self.layout.fps)
        motion = resample_motion(motion, self.layout.fps, self.fps)
        item = {"id": clip.id, "audio": audio, "motion": motion, "fps": self.fps, "space": self.space,
                "has_audio": has_audio, "text": layout_io.text_levels(data), "split": self.splits[clip.id]}
        return _to_tensors(_crop(item, self.max_seconds, self.crop_generator(index)))


class FlameDataset(_FolderDataset):
    """MMHead / MEAD-3D style folder: motion/ID.npy (T, 56) FLAME + audio/ID.wav + text/ID.json."""

    space = "flame56"

    def _motion(self, clip: layout_io.Clip) -> np.ndarray:
        return np.nan_to_num(layout_io.read_flame(clip.motion)[:, :FLAME56_CORE])


class ArkitCsvDataset(_FolderDataset):
    """Live Link Face captures: motion/ID.csv (52 shapes + head/eye angles) + audio/ID.wav (+ text/ID.json)."""

    space = "arkit52"

    def _motion(self, clip: layout_io.Clip) -> np.ndarray:
        return np.nan_to_num(layout_io.read_arkit_csv(clip.motion).values)


class SyntheticDataset(CropEpochs, Dataset):
    """Examples of a synthetic corpus (``mmface-studio data synth``), optionally one split and kind.

    Shards are loaded whole on first use and kept while they fit in ``cache_bytes`` (by their
    size on disk; 4 GB holds a corpus of ~25 hours). Why so much: training draws examples in a
    random order across all shards, so a cache smaller than the corpus reloads a shard on most
    fetches (a 5-hour corpus with 8 of 15 shards cached trained 6x slower). Beyond the budget the
    least recently used shards are dropped.
    """

    space = "arkit52"

    def __init__(self, root: str | Path, split: str | None = None, kinds: Sequence[str] = ("speech", "actions"),
                 max_seconds: float | None = None, generator: torch.Generator | None = None,
                 cache_bytes: int = 4 << 30) -> None:
        from mmface_studio.training.synth.shards import read_index

        self.root = Path(root)
        self.index = read_index(self.root)
        self.fps = float(self.index["fps"])
        self.items: list[tuple[int, int]] = []
        for k, entry in enumerate(self.index["shards"]):
            meta = json.loads((self.root / entry["meta"]).read_text(encoding="utf-8"))
            for i, ex in enumerate(meta["examples"]):
                if (split is None or ex["split"] == split) and ex["kind"] in kinds:
                    self.items.append((k, i))
        self.max_seconds, self.generator = max_seconds, generator
        self._cache: OrderedDict[int, Any] = OrderedDict()
        files = [self.root / e["file"] for e in self.index["shards"]]
        largest = max((f.stat().st_size for f in files if f.exists()), default=1)
        self._cache_size = max(1, int(cache_bytes // max(largest, 1)))

    def __len__(self) -> int:
        return len(self.items)

    def shard_of(self, index: int) -> int:
        return self.items[index][0]

    def _shard(self, k: int) -> Any:
        from mmface_studio.training.synth.shards import open_shard

        if k not in self._cache:
            self._cache[k] = open_shard(self.root, self.index["shards"][k])
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(k)
        return self._cache[k]

    def __getitem__(self, index: int) -> dict[str, Any]:
        k, i = self.items[index]
        ex = self._shard(k).example(i)
        meta = ex["meta"]
        item = {"id": meta["id"], "audio": ex["audio"].astype(np.float32) / 32767.0, "motion": ex["arkit"].T,
                "fps": self.fps, "space": self.space, "has_audio": meta["kind"] == "speech", "text": meta["text"],
                "split": meta["split"], "emotion": ex["emotion"].T, "pose_style": ex["pose_style"],
                "voice": meta["voice"] or "", "sentence": meta["sentence"] or ""}
        if "mel" in ex:
            item["mel"] = ex["mel"].T.astype(np.float32)
        return _to_tensors(_crop(item, self.max_seconds, self.crop_generator(index)))


def _to_tensors(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for key in _VARIABLE:
        if key in out:
            out[key] = torch.from_numpy(np.ascontiguousarray(out[key], dtype=np.float32))
    if "pose_style" in out:
        out["pose_style"] = torch.tensor(int(out["pose_style"]), dtype=torch.long)
    out["has_audio"] = torch.tensor(bool(out["has_audio"]))
    return out


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of items: pad variable-length tensors (time first) with zeros and add masks/lengths.

    ``audio`` -> (B, N), ``motion`` -> (B, T, C), ``emotion`` -> (B, T, 7), ``mel`` -> (B, F, 80);
    ``<key>_mask`` (B, L) bool is True on real entries and ``<key>_lengths`` (B,) long. Scalars are
    stacked, strings become lists and ``text`` a dict of lists per level.
    """
    if not batch:
        raise ValueError("collate needs at least one item")
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if key in _VARIABLE:
            lengths = torch.tensor([v.shape[0] for v in values], dtype=torch.long)
            longest = int(lengths.max())
            padded = values[0].new_zeros((len(values), longest, *values[0].shape[1:]))
            for i, v in enumerate(values):
                padded[i, :v.shape[0]] = v
            out[key] = padded
            out[f"{key}_lengths"] = lengths
            out[f"{key}_mask"] = torch.arange(longest)[None, :] < lengths[:, None]
        elif isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], dict):
            out[key] = {k: [v.get(k, "") for v in values] for k in values[0]}
        elif isinstance(values[0], float):
            out[key] = torch.tensor(values, dtype=torch.float32)
        else:
            out[key] = list(values)
    return out
