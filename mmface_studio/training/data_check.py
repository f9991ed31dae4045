"""The real-data folder layouts, defined once, and ``mmface-studio data check DIR``.

Why the layouts live here and not in ``datasets``: the checker and the torch loaders must agree
on every path and column, and the checker must run without torch (it is what a user runs first,
on a laptop, before a long training job). So this module owns the layout (dataset.json, file
discovery, readers for .npy / Live Link Face .csv / text .json) and ``datasets`` builds on it.

Two layouts (docs/datasets.md has the full description)::

    ROOT/dataset.json      {"format": "flame", "fps": 25}  or  {"format": "arkit-csv", "fps": 60}
    ROOT/motion/ID.npy     flame: float (T, 56) = 50 expression + 3 global rotation + 3 jaw (MMHead order);
                           (T, 59) adds neck, (T, 65) neck and eyes (FLAME56 full order)
    ROOT/motion/ID.csv     arkit-csv: Live Link Face CSV (Timecode, BlendShapeCount, 52 shapes, 9 head/eye angles)
    ROOT/audio/ID.wav      the clip's speech (any rate, mono or stereo); optional only for clips whose text
                           JSON says "speech": false (text-to-motion clips)
    ROOT/text/ID.json      optional: {"action", "emotion", "expression", "head_pose", "scenario"} strings,
                           plus optional "speech" (bool), "transcript", "split"
    ROOT/splits/NAME.txt   optional: clip IDs, one per line (train.txt, val.txt, test.txt)

ID is a path relative to ``motion/`` without suffix (``M003/angry/001``), so nested MEAD-style
trees work. A synthetic corpus folder (index.json, see ``training.synth.shards``) is checked too.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES, ARKIT_POSE_CHANNELS

FORMATS: tuple[str, ...] = ("flame", "arkit-csv")
TEXT_LEVELS: tuple[str, ...] = ("action", "emotion", "expression", "head_pose", "scenario")
FLAME_WIDTHS: tuple[int, ...] = (56, 59, 65)
ARKIT_COLUMNS: tuple[str, ...] = ("Timecode", "BlendShapeCount",
                                  *(n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPES), *ARKIT_POSE_CHANNELS)
COMMON_FPS: tuple[float, ...] = (24.0, 25.0, 30.0, 50.0, 60.0, 100.0, 120.0)
LENGTH_TOLERANCE_S = 0.1
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")


class LayoutError(ValueError):
    """The folder is not a dataset in a known layout (message says what is missing)."""


@dataclass(frozen=True)
class Layout:
    root: Path
    format: str
    fps: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def motion_suffix(self) -> str:
        return ".npy" if self.format == "flame" else ".csv"


@dataclass(frozen=True)
class Clip:
    id: str
    motion: Path
    audio: Path | None
    text: Path | None


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def read_layout(root: str | Path) -> Layout:
    """Parse ``ROOT/dataset.json``; raises LayoutError with the reason."""
    base = Path(root)
    path = base / "dataset.json"
    if not path.is_file():
        raise LayoutError(f"{path} is missing: a dataset folder starts with dataset.json "
                          '({"format": "flame" or "arkit-csv", "fps": N}).')
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise LayoutError(f"{path} must hold a JSON object.")
    fmt = meta.get("format")
    if fmt not in FORMATS:
        raise LayoutError(f"{path}: format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    fps = meta.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 1 <= fps <= 1000:
        raise LayoutError(f"{path}: fps must be a number between 1 and 1000, got {fps!r}.")
    return Layout(base, str(fmt), float(fps), meta)


def find_clips(layout: Layout) -> list[Clip]:
    """Every motion file under motion/, with its audio and text when they exist (sorted by ID)."""
    motion_dir = layout.root / "motion"
    out = []
    for path in sorted(motion_dir.rglob(f"*{layout.motion_suffix}")):
        clip_id = path.relative_to(motion_dir).with_suffix("").as_posix()
        audio = next((a for a in (layout.root / "audio" / f"{clip_id}{s}" for s in AUDIO_SUFFIXES) if a.is_file()),
                     None)
        text = layout.root / "text" / f"{clip_id}.json"
        out.append(Clip(clip_id, path, audio, text if text.is_file() else None))
    return out


def read_splits(layout: Layout) -> dict[str, str]:
    """Clip ID -> split name from ROOT/splits/*.txt (empty when there are none)."""
    out: dict[str, str] = {}
    for path in sorted((layout.root / "splits").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                out[line.strip()] = path.stem
    return out


def read_flame(path: Path) -> np.ndarray:
    """(T, 56+) float32 FLAME parameters; raises ValueError on a file that is not one."""
    data = np.load(path, allow_pickle=False)
    if data.ndim != 2 or data.shape[1] not in FLAME_WIDTHS:
        raise ValueError(f"wrong shape {data.shape}: expected (frames, {' or '.join(map(str, FLAME_WIDTHS))})")
    if not np.issubdtype(data.dtype, np.floating):
        raise ValueError(f"dtype {data.dtype} is not floating point")
    return data.astype(np.float32)


@dataclass
class ArkitTable:
    """A parsed Live Link Face CSV: values in ARKIT52 order (T, 61), per-row problems, timecode fps."""

    values: np.ndarray
    problems: list[str]
    timecode_fps: float | None


def read_arkit_csv(path: Path) -> ArkitTable:
    """Parse a Live Link Face CSV, collecting (not raising) row problems; unknown columns are ignored."""
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError("empty file")
    header = [h.strip() for h in rows[0]]
    if header[:2] != ["Timecode", "BlendShapeCount"]:
        raise ValueError("the header does not start with Timecode,BlendShapeCount (not a Live Link Face CSV)")
    lookup = {name.lower(): i for i, name in enumerate(ARKIT52.names)}
    columns = {col: lookup[name.lower()] for col, name in enumerate(header) if name.lower() in lookup}
    missing = [n for n in ARKIT_COLUMNS[2:] if n.lower() not in {h.lower() for h in header}]
    if len(header) != len(ARKIT_COLUMNS) or missing:
        named = f" (missing {', '.join(missing[:5])}{'...' if len(missing) > 5 else ''})" if missing else ""
        problems.append(f"wrong column count: {len(header)} columns, expected {len(ARKIT_COLUMNS)}{named}")
    body = [r for r in rows[1:] if r and any(c.strip() for c in r)]
    values = np.repeat(ARKIT52.defaults[None, :], len(body), axis=0)
    bad_rows: list[int] = []
    for i, row in enumerate(body):
        if len(row) != len(header):
            bad_rows.append(i)
            continue
        for col, ch in columns.items():
            try:
                values[i, ch] = float(row[col])
            except ValueError:
                values[i, ch] = np.nan
    if bad_rows:
        problems.append(f"wrong column count in {len(bad_rows)} row(s) (first: data row {bad_rows[0] + 1}, "
                        f"{len(body[bad_rows[0]])} columns, header has {len(header)})")
    return ArkitTable(values, problems, _timecode_fps([r[0] for r in body if r]))


def _timecode_fps(codes: list[str]) -> float | None:
    """Frame rate from HH:MM:SS:FF[.mmm] timecodes: the largest frame number seen plus one, snapped."""
    frames = []
    for code in codes:
        parts = code.split(":")
        if len(parts) == 4:
            try:
                frames.append(int(float(parts[3])))
            except ValueError:
                continue
    if len(frames) < 2 or len(codes) < 2:
        return None
    top = max(frames) + 1
    if len(codes) < top:  # shorter than a second: the counter never wrapped, the rate is unknown
        return None
    return float(top)


def read_text(path: Path) -> dict[str, Any]:
    """The text JSON of a clip (raises ValueError with the parser's message on bad JSON)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("the text JSON must be an object with action/emotion/expression/head_pose/scenario")
    return data


def text_levels(data: dict[str, Any]) -> dict[str, str]:
    """The five levels as strings ("" where absent; a list of scenarios is joined)."""
    out = {}
    for level in TEXT_LEVELS:
        value = data.get(level, "")
        out[level] = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def audio_duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return float(info.frames) / float(info.samplerate)


# --- the check ------------------------------------------------------------------------------------------------


def check_folder(root: str | Path, tolerance_s: float = LENGTH_TOLERANCE_S) -> tuple[list[Problem], int]:
    """(every problem found, number of clips checked); a synthetic corpus folder is checked as such."""
    base = Path(root)
    if (base / "index.json").is_file() and not (base / "dataset.json").is_file():
        return check_synthetic(base)
    try:
        layout = read_layout(base)
    except LayoutError as exc:
        return [Problem("dataset.json", str(exc))], 0
    clips = find_clips(layout)
    problems: list[Problem] = []
    if not clips:
        problems.append(Problem("motion/", f"no {layout.motion_suffix} files under {base / 'motion'}"))
    ids = {c.id for c in clips}
    for folder, suffixes in (("audio", AUDIO_SUFFIXES), ("text", (".json",))):
        for path in sorted((base / folder).rglob("*")):
            stem = path.relative_to(base / folder).with_suffix("").as_posix()
            if path.suffix.lower() in suffixes and stem not in ids:
                problems.append(Problem(path.relative_to(base).as_posix(), f"no motion file for this {folder} file"))
    for clip_id, split in sorted(read_splits(layout).items()):
        if clip_id not in ids:
            problems.append(Problem(f"splits/{split}.txt", f"lists {clip_id!r}, which has no motion file"))
    for clip in clips:
        problems += check_clip(layout, clip, tolerance_s)
    return problems, len(clips)


def check_clip(layout: Layout, clip: Clip, tolerance_s: float = LENGTH_TOLERANCE_S) -> list[Problem]:
    root = layout.root
    rel = clip.motion.relative_to(root).as_posix()
    out: list[Problem] = []
    speech = True
    if clip.text is not None:
        text_rel = clip.text.relative_to(root).as_posix()
        try:
            data = read_text(clip.text)
            speech = bool(data.get("speech", True))
            wrong = [k for k in TEXT_LEVELS if k in data and not isinstance(data[k], (str, list))]
            if wrong:
                out.append(Problem(text_rel, f"levels must be strings (or a list of scenarios): {', '.join(wrong)}"))
        except (ValueError, UnicodeDecodeError) as exc:
            out.append(Problem(text_rel, f"bad JSON: {exc}"))
    try:
        if layout.format == "flame":
            values, timecode_fps = read_flame(clip.motion), None
        else:
            table = read_arkit_csv(clip.motion)
            out += [Problem(rel, p) for p in table.problems]
            values, timecode_fps = table.values, table.timecode_fps
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return [*out, Problem(rel, f"unreadable motion: {exc}")]
    frames = values.shape[0]
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        out.append(Problem(rel, f"NaN or infinite values in {rows.size} frame(s) (first at frame {rows[0]})"))
    if frames < 2:
        out.append(Problem(rel, f"only {frames} frame(s)"))
    if timecode_fps is not None and abs(timecode_fps - layout.fps) > 0.5:
        out.append(Problem(rel, f"wrong fps: the timecodes count {timecode_fps:g} frames per second, "
                                f"dataset.json says {layout.fps:g}"))
    if clip.audio is None:
        if speech:
            out.append(Problem(rel, "missing audio: no audio/" + clip.id + ".wav (or .flac/.ogg/.mp3); "
                                    'a clip without speech says "speech": false in its text JSON'))
        return out
    audio_rel = clip.audio.relative_to(root).as_posix()
    try:
        from mmface_studio.audio import AudioError, load_audio

        seconds = load_audio(clip.audio).duration
    except AudioError as exc:
        return [*out, Problem(audio_rel, f"unreadable audio: {exc}")]
    motion_s = frames / layout.fps
    if abs(motion_s - seconds) > max(tolerance_s, 2.0 / layout.fps) and frames >= 2:
        fits = [f for f in COMMON_FPS if f != layout.fps and abs(frames / f - seconds) <= max(tolerance_s, 2.0 / f)]
        if fits and timecode_fps is None:
            out.append(Problem(rel, f"wrong fps: {frames} frames over {seconds:.2f} s of audio is "
                                    f"{frames / seconds:.1f} fps, dataset.json says {layout.fps:g} "
                                    f"(or a length mismatch: motion {motion_s:.2f} s at {layout.fps:g} fps)"))
        else:
            out.append(Problem(rel, f"length mismatch: motion is {motion_s:.2f} s ({frames} frames at "
                                    f"{layout.fps:g} fps), audio is {seconds:.2f} s"))
    return out


def check_synthetic(root: Path) -> tuple[list[Problem], int]:
    """Check a synthetic corpus: every shard present and readable, offsets consistent, values finite."""
    from mmface_studio.training.synth.shards import open_shard, read_index

    try:
        index = read_index(root)
    except (OSError, ValueError) as exc:
        return [Problem("index.json", str(exc))], 0
    problems, count = [], 0
    fps, rate = float(index["fps"]), int(index["sample_rate"])
    for entry in index["shards"]:
        try:
            shard = open_shard(root, entry)
        except (OSError, ValueError, KeyError) as exc:
            problems.append(Problem(entry.get("file", "?"), f"unreadable shard: {exc}"))
            continue
        if len(shard) != entry["examples"]:
            problems.append(Problem(entry["file"], f"holds {len(shard)} examples, index.json says {entry['examples']}"))
        for i in range(len(shard)):
            ex = shard.example(i)
            count += 1
            where = f"{entry['file']}#{ex['meta'].get('id', i)}"
            frames, samples = ex["arkit"].shape[1], len(ex["audio"])
            if not np.isfinite(ex["arkit"]).all() or not np.isfinite(ex["emotion"]).all():
                problems.append(Problem(where, "NaN or infinite values in the targets"))
            if frames != math.ceil(samples / rate * fps - 1e-6):
                problems.append(Problem(where, f"length mismatch: {frames} frames for {samples / rate:.2f} s of audio"))
    return problems, count


def run_check(root: str | Path, tolerance_s: float = LENGTH_TOLERANCE_S, out: Any = None) -> int:
    """Print every problem, one per line, then a summary; exit status 1 when there is any problem."""
    import sys

    stream = out or sys.stdout
    problems, clips = check_folder(root, tolerance_s)
    for problem in problems:
        print(problem, file=stream)
    files = len({p.path for p in problems})
    found = f"{len(problems)} problem(s) in {files} file(s)" if problems else "no problems"
    print(f"{clips} clip(s) checked: {found}", file=stream)
    return 1 if problems else 0
