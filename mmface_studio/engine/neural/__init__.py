"""Neural engines: one per installed lip-sync checkpoint, registered with the pipeline by name.

Discovery reads only the checkpoints' JSON metadata (no torch import), so the engine list is
ready at application start; torch and the weights load when an engine is first used. Each face
checkpoint (Audio2FLAME, ResNet1D, MM2Face) becomes an engine named after it, paired with the
first pose checkpoint of the same space (the user folder shadows the shipped ``models/``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmface_studio.engine.pipeline import register_engine

LIPSYNC_FAMILIES: tuple[str, ...] = ("audio2flame", "resnet1d", "mm2face")
_REPO_MODELS = Path(__file__).resolve().parents[3] / "models"


@dataclass(frozen=True)
class InstalledCheckpoint:
    """What discovery knows of a checkpoint without loading it."""

    name: str
    family: str
    space: str
    path: Path  # the .safetensors file
    card: str  # the NAME.md model card text ("" when there is none)
    metrics: dict


def model_folders() -> list[Path]:
    import platformdirs

    return [Path(platformdirs.user_data_dir("mmface-studio")) / "models", _REPO_MODELS]


def scan_checkpoints(folders: list[Path] | None = None) -> list[InstalledCheckpoint]:
    """Checkpoints (JSON + safetensors pairs) in ``folders``, earlier folders shadowing later ones by name."""
    found: dict[str, InstalledCheckpoint] = {}
    for folder in folders if folders is not None else model_folders():
        if not folder.is_dir():
            continue
        for meta in sorted(folder.glob("*.json")):
            weights = meta.with_suffix(".safetensors")
            if meta.stem in found or not weights.is_file():
                continue
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # the registry reports broken files with reasons; discovery just skips them
            if not isinstance(data, dict) or "family" not in data:
                continue
            card_path = meta.with_suffix(".md")
            card = card_path.read_text(encoding="utf-8") if card_path.is_file() else ""
            found[meta.stem] = InstalledCheckpoint(meta.stem, str(data["family"]), str(data.get("space", "")),
                                                   weights, card, dict(data.get("metrics") or {}))
    return list(found.values())


def _factory(face: InstalledCheckpoint, pose: InstalledCheckpoint | None) -> Any:
    def build() -> Any:
        from mmface_studio.engine.checkpoints import load_checkpoint
        from mmface_studio.engine.neural.engine import NeuralEngine

        face_model, _info = load_checkpoint(face.path)
        pose_model = load_checkpoint(pose.path)[0] if pose is not None else None
        # The version keys the stage caches: a retrained file under the same name must not reuse them.
        stamp = [face.path.stat()] + ([pose.path.stat()] if pose is not None else [])
        version = ";".join(f"{s.st_size}:{s.st_mtime_ns}" for s in stamp)
        files = {"face": str(face.path), "pose": str(pose.path) if pose is not None else None}
        return NeuralEngine(face_model, pose_model, name=face.name, version=version, checkpoint=files)

    return build


def register_installed(folders: list[Path] | None = None) -> list[InstalledCheckpoint]:
    """Register an engine per installed face checkpoint; returns those registered."""
    checkpoints = scan_checkpoints(folders)
    poses = {c.space: c for c in reversed(checkpoints) if c.family == "pose"}
    faces = [c for c in checkpoints if c.family in LIPSYNC_FAMILIES]
    for face in faces:
        register_engine(face.name, _factory(face, poses.get(face.space)), needs_phones=False)
    return faces
