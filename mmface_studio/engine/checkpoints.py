"""Checkpoints: ``NAME.safetensors`` (weights) + ``NAME.json`` (what they are), and a registry of them.

Why this format (DESIGN 4): a checkpoint is an untrusted file from the internet as often as not,
and a pickle (``torch.save``'s ``.pt``/``.pth``/``.ckpt``, a ``pytorch_model.bin``) runs code when
it is opened. safetensors holds tensors only, and the JSON beside it holds the rest: the family
and its config (the model is rebuilt as ``families()[family].from_config_dict(config)``, never
unpickled), the parameter space, fps, the speech feature type, what it was trained on and how it
scores. Nothing here ever calls ``torch.load`` or ``pickle``; a pickle is refused by name and by
its first bytes, before anything is read further.

Writing is atomic per file (temp file, fsync, rename), weights first: a JSON next to its weights
means a complete checkpoint. The JSON records the weights' SHA-256, so a weights file replaced or
damaged since is caught on load. Loading is strict: every tensor of the model must be in the file
with its shape, and the file may hold nothing else; each mismatch is listed by name.

Optional ``NAME.md`` is the model card shown in the UI and by the registry.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmface_studio.core.atomic import atomic_write
from mmface_studio.engine.models.base import FamilyModel, ModelConfigError, families

FORMAT = "mmface-checkpoint"
FORMAT_VERSION = 1
APP_NAME = "mmface-studio"
#: Suffixes of pickle-based formats: refused without being opened.
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar"})
#: Families that live outside ``engine.models`` (evaluation models), imported on demand.
EXTRA_FAMILY_MODULES: tuple[str, ...] = ("mmface_studio.training.retrieval",)
_MAX_HEADER = 100 * 2**20
_LISTED = 5  # names shown per kind of mismatch
_PROTO0_GLOBAL = re.compile(rb"c[A-Za-z_][\w.]*\n[A-Za-z_]")


class CheckpointError(Exception):
    """A checkpoint cannot be written, read or loaded; the message names the file and the problem."""


class UnsafeCheckpointError(CheckpointError):
    """The file is a pickle (or a zip of pickles): opening it could run code, so it is refused."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint is, from its JSON (and model card), without loading the weights.

    ``extra``: the caller's own metadata keys, plus the file's bookkeeping (``weights``,
    ``weights_sha256``, ``tied`` aliases, ``mmface_studio_version`` of the writer).
    """

    name: str
    family: str
    space: str
    fps: float
    feature_type: str
    path: Path  # the .safetensors file
    metadata_path: Path
    config: dict[str, Any] = field(default_factory=dict)
    training_data: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    format_version: int = FORMAT_VERSION
    parameter_count: int = 0
    card: str = ""
    size_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for lists: name, family, space, fps, size."""
        return (f"{self.name}: {self.family} ({self.space}, {self.fps:g} fps, {self.feature_type}), "
                f"{self.parameter_count:,} parameters, {self.size_bytes / 2**20:.1f} MiB")


@dataclass(frozen=True)
class SkippedCheckpoint:
    """A file the registry found but cannot offer, and why."""

    path: Path
    reason: str


# --- files and their first bytes --------------------------------------------------------------------


def _stem(path: str | os.PathLike[str]) -> Path:
    """``dir/NAME`` from ``dir/NAME``, ``dir/NAME.safetensors`` or ``dir/NAME.json``; pickles are refused."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise UnsafeCheckpointError(_pickle_message(p))
    if suffix in (".safetensors", ".json", ".md"):
        return p.parent / p.name[: -len(suffix)]
    return p


def _file(stem: Path, suffix: str) -> Path:
    """``stem`` + ``suffix`` (not ``with_suffix``: a name like ``lipsync.v2`` keeps its dot)."""
    return stem.parent / (stem.name + suffix)


def _pickle_message(path: Path) -> str:
    return (f"{path.name} is a pickle (PyTorch .pt/.pth/.ckpt/.bin format) and cannot be trusted: opening it could "
            "run any code. MMFace Studio only loads safetensors checkpoints (NAME.safetensors + NAME.json); convert "
            "it where you trust its source, or ask its author for a safetensors file.")


def _sniff_pickle(path: Path) -> None:
    """Refuse ``path`` when its first bytes are a pickle's or a zip's (torch.save writes zipped pickles).

    Protocol 2+ pickles start with PROTO (0x80); protocol 0/1 ones that rebuild objects with a MARK
    or a GLOBAL (``c`` module newline). Other files fail later as "not JSON"/"not safetensors":
    either way nothing is unpickled, this only makes the message say what the file is.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return
    if head[:1] in (b"\x80", b"(") or head.startswith(b"PK\x03\x04") or _PROTO0_GLOBAL.match(head):
        raise UnsafeCheckpointError(_pickle_message(path))


def _check_safetensors(path: Path) -> None:
    """The weights file exists and starts like safetensors (u64 header length, then a JSON object)."""
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing: the checkpoint's weights must sit beside its JSON.")
    _sniff_pickle(path)
    with open(path, "rb") as handle:
        head = handle.read(9)
    size = path.stat().st_size
    if len(head) < 9 or head[8:9] != b"{" or not 2 <= struct.unpack("<Q", head[:8])[0] <= min(size - 8, _MAX_HEADER):
        raise CheckpointError(f"{path.name} is not a safetensors file (damaged, or another format renamed).")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _card(stem: Path) -> str:
    try:
        return _file(stem, ".md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _jsonable(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata '{where}' is not plain JSON ({exc}).") from None


# --- saving -------------------------------------------------------------------------------------------


def _unique_tensors(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """State dict with tied tensors stored once (safetensors refuses shared storage) and the aliases."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach()
        key = (t.device, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = t.to("cpu").contiguous().clone()
    return tensors, aliases


def save_checkpoint(model: FamilyModel, path: str | os.PathLike[str], *, metadata: dict[str, Any]) -> CheckpointInfo:
    """Write ``NAME.safetensors`` + ``NAME.json`` for ``model``; ``path`` is ``dir/NAME`` (suffix optional).

    ``metadata``: ``fps`` and ``feature_type`` (e.g. ``"logmel80"`` or an encoder name) are required;
    ``training_data`` (text or dict) and ``metrics`` (dict) are recorded when given; other keys land
    in ``extra``. Family, space and config come from the model itself.
    """
    from safetensors.torch import save as safetensors_bytes

    if not isinstance(model, FamilyModel) or not model.family:
        raise CheckpointError("save_checkpoint takes a registered FamilyModel.")
    missing = [k for k in ("fps", "feature_type") if k not in metadata]
    if missing:
        raise CheckpointError(f"checkpoint metadata needs {', '.join(missing)}.")
    fps = float(metadata["fps"])
    if not (math.isfinite(fps) and fps > 0):
        raise CheckpointError(f"checkpoint fps must be a positive number, got {metadata['fps']!r}.")
    stem = _stem(path)
    tensors, aliases = _unique_tensors(model)
    blob = safetensors_bytes(tensors, metadata={"format": FORMAT, "family": model.family})
    weights = _file(stem, ".safetensors")
    atomic_write(weights, lambda handle: handle.write(blob))
    known = {"fps", "feature_type", "training_data", "metrics"}
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "family": model.family,
        "space": getattr(model.config, "space", "arkit52"), "fps": fps, "feature_type": str(metadata["feature_type"]),
        "config": _jsonable(model.config_dict(), "config"),
        "training_data": _jsonable(metadata.get("training_data"), "training_data"),
        "metrics": _jsonable(dict(metadata.get("metrics") or {}), "metrics"),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "parameter_count": int(model.parameter_count()), "weights": weights.name,
        "weights_sha256": hashlib.sha256(blob).hexdigest(), "tied": aliases,
        "extra": _jsonable({k: v for k, v in metadata.items() if k not in known}, "extra"),
    }
    try:
        from mmface_studio import __version__

        doc["mmface_studio_version"] = __version__
    except ImportError:  # pragma: no cover - the package always has a version
        pass
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    atomic_write(_file(stem, ".json"), lambda handle: handle.write(text.encode()))
    return read_checkpoint_info(stem)


# --- reading ------------------------------------------------------------------------------------------


def _read_json(stem: Path) -> dict[str, Any]:
    meta = _file(stem, ".json")
    if not meta.is_file():
        raise CheckpointError(f"{meta.name} is missing: a checkpoint is NAME.safetensors + NAME.json.")
    _sniff_pickle(meta)
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"{meta.name} is not a text file.") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta.name} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    except OSError as exc:
        raise CheckpointError(f"{meta.name} cannot be read ({exc.strerror or exc}).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{meta.name} is not an MMFace Studio checkpoint description.")
    version = doc.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{meta.name} has no valid format_version.")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{meta.name} was written by a newer MMFace Studio (checkpoint format {version}); "
                              f"this version reads format {FORMAT_VERSION}. Update MMFace Studio to load it.")
    for key, kind in (("family", str), ("space", str), ("config", dict), ("fps", (int, float))):
        if not isinstance(doc.get(key), kind):
            raise CheckpointError(f"{meta.name} is damaged: '{key}' is missing or of the wrong type.")
    return doc


def read_checkpoint_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """The checkpoint's description (JSON + model card), checking that its weights file is safetensors."""
    stem = _stem(path)
    doc = _read_json(stem)
    weights = _file(stem, ".safetensors")
    _check_safetensors(weights)
    size = weights.stat().st_size + _file(stem, ".json").stat().st_size
    known = {"family", "space", "fps", "feature_type", "config", "training_data", "metrics", "created",
             "format_version", "parameter_count", "extra"}
    extra = dict(doc.get("extra") or {}) | {k: v for k, v in doc.items() if k not in known and k != "format"}
    return CheckpointInfo(
        name=stem.name, family=doc["family"], space=doc["space"], fps=float(doc["fps"]),
        feature_type=str(doc.get("feature_type", "")), path=weights, metadata_path=_file(stem, ".json"),
        config=doc["config"], training_data=doc.get("training_data"), metrics=dict(doc.get("metrics") or {}),
        created=str(doc.get("created", "")), format_version=int(doc["format_version"]),
        parameter_count=int(doc.get("parameter_count") or 0), card=_card(stem), size_bytes=size, extra=extra)


def family_class(name: str) -> type[FamilyModel]:
    """The model class registered under ``name`` (engine families, then evaluation models)."""
    import importlib

    known = families()
    if name not in known:
        for module in EXTRA_FAMILY_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
        known = families()
    if name not in known:
        raise CheckpointError(f"unknown model family '{name}'; this MMFace Studio knows "
                              f"{', '.join(sorted(known)) or 'none'}.")
    return known[name]


def _mismatches(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> list[str]:
    def listed(names: list[str]) -> str:
        more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
        return ", ".join(names[:_LISTED]) + more

    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k} (file {tuple(found[k].shape)}, model {tuple(expected[k].shape)})"
              for k in sorted(set(expected) & set(found)) if tuple(found[k].shape) != tuple(expected[k].shape)]
    if missing:
        problems.append(f"missing tensors: {listed(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {listed(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch: {listed(shapes)}")
    return problems


def load_checkpoint(path: str | os.PathLike[str], device: Any = None) -> tuple[FamilyModel, CheckpointInfo]:
    """Rebuild the model from the JSON and load the weights strictly; the model is in eval mode.

    ``device``: where the model goes (default CPU). Every problem is a :class:`CheckpointError`
    naming the file; a pickle is an :class:`UnsafeCheckpointError` and is never opened.
    """
    from safetensors.torch import load as safetensors_load

    p = Path(path)
    if p.is_file() and p.suffix.lower() not in (".json", ".safetensors", ".md"):
        _sniff_pickle(p)  # e.g. a pickle saved without a telling suffix
    info = read_checkpoint_info(p)
    cls = family_class(info.family)
    try:
        model = cls.from_config_dict(dict(info.config))
    except (ModelConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{info.metadata_path.name}: the {info.family} config cannot be built ({exc}).") from None
    blob = info.path.read_bytes()
    doc_sha = info.extra.get("weights_sha256")
    if doc_sha and hashlib.sha256(blob).hexdigest() != doc_sha:
        raise CheckpointError(f"{info.path.name} does not match {info.metadata_path.name} (its checksum differs): "
                              "the weights were replaced or damaged after saving.")
    try:
        tensors = safetensors_load(blob)
    except Exception as exc:  # safetensors raises its own SafetensorError for any malformed file
        raise CheckpointError(f"{info.path.name} is damaged ({exc}).") from None
    for alias, source in dict(info.extra.get("tied") or {}).items():
        if source in tensors and alias not in tensors:
            tensors[alias] = tensors[source]
    problems = _mismatches(model.state_dict(), tensors)
    if problems:
        raise CheckpointError(f"{info.path.name} does not fit a {info.family} model with this config: "
                              + "; ".join(problems) + ".")
    model.load_state_dict(tensors, strict=True)
    if device is not None:
        model = model.to(torch.device(device))
    return model.eval(), info


# --- registry -----------------------------------------------------------------------------------------


def repo_models_dir() -> Path:
    """``models/`` of the source tree (where the shipped default checkpoints live)."""
    return Path(__file__).resolve().parents[2] / "models"


def user_models_dir() -> Path:
    """``<user data dir>/models``: where the animator's own and trained checkpoints go."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


class CheckpointRegistry:
    """The checkpoints in a list of folders (default: the user's, then the repository's ``models/``).

    Each folder is scanned (not recursively) for ``NAME.json`` + ``NAME.safetensors``. What cannot
    be offered is in ``skipped`` with a reason: broken JSON, missing weights, an unknown family, a
    pickle lying in the folder, or a name already taken by an earlier folder (the user's own
    checkpoint shadows a shipped one of the same name).
    """

    def __init__(self, folders: list[str | os.PathLike[str]] | None = None) -> None:
        self.folders = [Path(f) for f in folders] if folders is not None else [user_models_dir(), repo_models_dir()]
        self.checkpoints: list[CheckpointInfo] = []
        self.skipped: list[SkippedCheckpoint] = []
        self.refresh()

    def refresh(self) -> list[CheckpointInfo]:
        """Scan the folders again; returns the usable checkpoints."""
        found: dict[str, CheckpointInfo] = {}
        skipped: list[SkippedCheckpoint] = []
        known_families: set[str] | None = None
        for folder in self.folders:
            if not folder.is_dir():
                continue
            entries = sorted(p for p in folder.iterdir() if p.is_file())
            stems = sorted({_stem(p) for p in entries if p.suffix in (".json", ".safetensors")})
            skipped += [SkippedCheckpoint(p, _pickle_message(p)) for p in entries
                        if p.suffix.lower() in PICKLE_SUFFIXES]
            for stem in stems:
                try:
                    info = read_checkpoint_info(stem)
                    if known_families is None:
                        known_families = set(families())
                    if info.family not in known_families:
                        family_class(info.family)
                        known_families = set(families())
                except CheckpointError as exc:
                    skipped.append(SkippedCheckpoint(_file(stem, ".json"), str(exc)))
                    continue
                if info.name in found:
                    skipped.append(SkippedCheckpoint(info.metadata_path,
                                                     f"{info.name} is shadowed by {found[info.name].metadata_path}"))
                    continue
                found[info.name] = info
        self.checkpoints = sorted(found.values(), key=lambda i: i.name)
        self.skipped = skipped
        return self.checkpoints

    def list(self, family: str | None = None, space: str | None = None) -> list[CheckpointInfo]:
        """Usable checkpoints, optionally of one family and/or space."""
        return [c for c in self.checkpoints
                if (family is None or c.family == family) and (space is None or c.space == space)]

    def find(self, name: str) -> CheckpointInfo:
        for info in self.checkpoints:
            if info.name == name:
                return info
        why = next((s.reason for s in self.skipped if name in (s.path.name, s.path.stem)), None)
        names = ", ".join(c.name for c in self.checkpoints) or "none"
        raise CheckpointError(f"no usable checkpoint named '{name}'" + (f" ({why})" if why else "")
                              + f"; available: {names}.")

    def load(self, name: str, device: Any = None) -> tuple[FamilyModel, CheckpointInfo]:
        return load_checkpoint(self.find(name).path, device=device)
