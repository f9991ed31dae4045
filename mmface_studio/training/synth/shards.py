"""The corpus on disk: shards of concatenated arrays (npz, no pickles) + JSON metadata + one index.

Layout of a corpus folder::

    index.json              format, version, seed, fps, sample rate, channel names, voices, sentence pool,
                            shard list with per-split counts, totals
    shard-00000.npz         arrays of all examples of shard 0, concatenated along time (see below)
    shard-00000.json        per-example metadata of shard 0 (ids, split, voice, sentence, text levels,
                            phones, emotion keys, augmentation, offsets into the arrays)

Arrays in a shard (E examples; example i spans [offsets[i], offsets[i+1]) of each time axis):

    audio          int16   (sum of samples,)         16 kHz mono, full scale 32767
    audio_offsets  int64   (E + 1,)
    arkit          float32 (61, sum of frames)       arkit52 space: 52 blendshapes + head/eye rotations, 30 fps
    emotion        float32 (7, sum of frames)        gamma_u per frame (seed 003 order)
    frame_offsets  int64   (E + 1,)
    pose_style     int16   (E,)                      index into index.json "pose_styles"
    mel            float16 (80, sum of mel frames)   optional: log-mel at 100 Hz of the final audio
    mel_offsets    int64   (E + 1,)                  optional

Why concatenated arrays and not one file per clip: a few files per ten minutes of audio are
cheap to copy and to open, and the readers slice views without parsing anything. Why a hand-made
zip: ``numpy.savez`` stamps the current time into each member, so two identical corpora would
differ in bytes; here members carry a fixed date and the files are byte-identical for a seed.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "mmface-synth"
VERSION = 1
INDEX = "index.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def shard_stem(k: int) -> str:
    return f"shard-{k:05d}"


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """npz readable by ``np.load(allow_pickle=False)``, with the same bytes for the same arrays."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    """Stable JSON (sorted keys, fixed float repr) written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def pack(examples: list[dict[str, np.ndarray]], with_mel: bool) -> dict[str, np.ndarray]:
    """Concatenate per-example arrays (audio int16, arkit C x T, emotion 7 x T, [mel 80 x F]) into shard arrays."""
    def offsets(lengths: list[int]) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    out = {
        "audio": np.concatenate([e["audio"] for e in examples]).astype(np.int16),
        "audio_offsets": offsets([len(e["audio"]) for e in examples]),
        "arkit": np.concatenate([e["arkit"] for e in examples], axis=1).astype(np.float32),
        "emotion": np.concatenate([e["emotion"] for e in examples], axis=1).astype(np.float32),
        "frame_offsets": offsets([e["arkit"].shape[1] for e in examples]),
        "pose_style": np.array([int(e["pose_style"]) for e in examples], np.int16),
    }
    if with_mel:
        out["mel"] = np.concatenate([e["mel"] for e in examples], axis=1).astype(np.float16)
        out["mel_offsets"] = offsets([e["mel"].shape[1] for e in examples])
    return out


class ShardReader:
    """One shard's arrays and metadata; ``example(i)`` returns views of example i."""

    def __init__(self, npz_path: Path, json_path: Path) -> None:
        with np.load(npz_path, allow_pickle=False) as data:
            self.arrays = {k: data[k] for k in data.files}
        self.meta = json.loads(json_path.read_text(encoding="utf-8"))

    def __len__(self) -> int:
        return len(self.meta["examples"])

    def example(self, i: int) -> dict[str, Any]:
        a = self.arrays
        s0, s1 = a["audio_offsets"][i], a["audio_offsets"][i + 1]
        f0, f1 = a["frame_offsets"][i], a["frame_offsets"][i + 1]
        out = {"audio": a["audio"][s0:s1], "arkit": a["arkit"][:, f0:f1], "emotion": a["emotion"][:, f0:f1],
               "pose_style": int(a["pose_style"][i]), "meta": self.meta["examples"][i]}
        if "mel" in a:
            m0, m1 = a["mel_offsets"][i], a["mel_offsets"][i + 1]
            out["mel"] = a["mel"][:, m0:m1]
        return out


def read_index(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / INDEX
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a synthetic corpus index (format {data.get('format')!r}).")
    if int(data.get("version", 0)) > VERSION:
        raise ValueError(f"{path} has corpus version {data['version']}; this program reads up to {VERSION}.")
    return data


def open_shard(folder: str | Path, entry: Mapping[str, Any]) -> ShardReader:
    root = Path(folder)
    return ShardReader(root / entry["file"], root / entry["meta"])
