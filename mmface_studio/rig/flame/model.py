"""FLAME model files -> a validated :class:`FlameModel` of plain float32/int32 arrays.

Users download FLAME themselves (it may not be redistributed), so the file
they point the app at can be anything: the right model, an interrupted
download, a renamed text file, another model's pickle or a hostile pickle.
Every one of those gets its own plain-language :class:`FlameModelError`;
nothing in the file is ever executed (see :mod:`.safe_pickle`).
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio.rig.base import RigError
from mmface_studio.rig.flame.safe_pickle import ForbiddenGlobalError, UnsupportedContentError, safe_load, to_array

#: Keys every FLAME model file has (FLAME 2020, 2023 and 2023 Open alike).
REQUIRED_KEYS: tuple[str, ...] = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
#: FLAME's shapedirs hold 300 identity components followed by the expression components.
FLAME_SHAPE_COMPONENTS = 300
#: Expression components the flame56 space drives.
FLAME_EXPRESSION_USED = 50
JOINT_COUNT = 5
#: Joint names in FLAME's kinematic-tree order.
JOINT_NAMES: tuple[str, ...] = ("global", "neck", "jaw", "eye_left", "eye_right")

_DOWNLOAD_HINT = "Download the model again from https://flame.is.tue.mpg.de and choose the .pkl file inside the zip."


class FlameModelError(RigError):
    """A FLAME model file could not be used; the message says why and what to do."""


@dataclass(frozen=True)
class FlameModel:
    """A FLAME model as numpy arrays, already checked for consistent shapes.

    Attributes:
        v_template: (V, 3) float32 mean head, metres, Y-up.
        faces: (F, 3) int32 triangles.
        shapedirs: (V, 3, S) float32 identity basis (S <= 300).
        exprdirs: (V, 3, E) float32 expression basis.
        posedirs: (V, 3, 9 * (J - 1)) float32 pose correctives, driven by (R_j - I) for joints 1..J-1.
        J_regressor: (J, V) float32 dense joint regressor.
        weights: (V, J) float32 skinning weights, rows sum to 1.
        parents: (J,) int64 parent joint index, -1 for the root.
        vt, ft: optional (T, 2) float32 UVs and (F, 3) int32 UV indices.
        source: path the model was read from.
        notes: non-fatal problems found while loading (e.g. unusable UVs).
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    exprdirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    vt: np.ndarray | None = None
    ft: np.ndarray | None = None
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def vertex_count(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_shape(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def n_expr(self) -> int:
        return int(self.exprdirs.shape[2])

    @property
    def joint_count(self) -> int:
        return int(self.J_regressor.shape[0])


# --------------------------------------------------------------------------- reading files


def load_flame_model(path: str | Path) -> FlameModel:
    """Read a FLAME ``.pkl`` (chumpy or plain) or ``.npz`` file; raise :class:`FlameModelError` on any problem."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FlameModelError(f"FLAME model file not found: {p}")
    if p.is_dir():
        raise FlameModelError(f"{p} is a folder; choose the FLAME model file inside it (e.g. generic_model.pkl).")
    try:
        payload = p.read_bytes()
    except OSError as exc:
        raise FlameModelError(f"Could not read {p}: {exc.strerror or exc}.") from None
    if not payload:
        raise FlameModelError(f"{p.name} is empty (0 bytes), not a FLAME model. {_DOWNLOAD_HINT}")
    if payload.startswith(b"PK"):
        raw = _read_npz(p)
    elif payload.startswith(b"\x93NUMPY"):
        raise FlameModelError(f"{p.name} is a single numpy array (.npy), not a FLAME model.")
    else:
        raw = _read_pickle(p, payload)
    return build_flame_model(raw, source=str(p), label=p.name)


def _read_pickle(p: Path, payload: bytes) -> Any:
    try:
        return safe_load(payload)
    except ForbiddenGlobalError as exc:
        raise FlameModelError(
            f"{p.name} was refused: it tried to import {exc.module}.{exc.name}, which could run code on this "
            "computer. Genuine FLAME files only hold arrays, so this file is not a FLAME model (or was tampered "
            f"with). Nothing from it was executed. {_DOWNLOAD_HINT}"
        ) from None
    except EOFError:
        raise FlameModelError(_truncated(p, len(payload))) from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            UnicodeDecodeError, MemoryError, OverflowError, RecursionError) as exc:
        if "truncated" in str(exc) and payload[:1] == b"\x80":
            raise FlameModelError(_truncated(p, len(payload))) from None
        if payload[:1] != b"\x80" and _looks_like_text(payload):
            raise FlameModelError(f"{p.name} is a text file, not a pickled FLAME model. {_DOWNLOAD_HINT}") from None
        if payload[:1] != b"\x80":
            raise FlameModelError(f"{p.name} is not a pickle file (unrecognised content). {_DOWNLOAD_HINT}") from None
        raise FlameModelError(f"{p.name} is corrupt: the pickle could not be read ({exc}). {_DOWNLOAD_HINT}") from None


def _truncated(p: Path, size: int) -> str:
    return (f"{p.name} is truncated or corrupt: the data ends early after {size} bytes (an interrupted "
            f"download?). {_DOWNLOAD_HINT}")


def _looks_like_text(payload: bytes) -> bool:
    sample = payload[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _read_npz(p: Path) -> dict[str, Any]:
    try:
        with np.load(p, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise FlameModelError(
                f"{p.name} holds pickled Python objects inside the .npz, which are refused for safety; "
                "FLAME .npz files must contain plain numeric arrays."
            ) from None
        raise FlameModelError(f"{p.name} is a corrupt .npz archive ({exc}).") from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise FlameModelError(f"{p.name} is a truncated or corrupt .npz archive ({exc}). {_DOWNLOAD_HINT}") from None


# --------------------------------------------------------------------------- validation


def build_flame_model(raw: Any, *, source: str = "", label: str = "FLAME model") -> FlameModel:
    """Check a loaded FLAME dict (arrays or stand-ins) and turn it into a :class:`FlameModel`."""
    if not isinstance(raw, dict):
        raise FlameModelError(
            f"{label} holds a {type(raw).__name__}, not a FLAME model (FLAME files hold a dictionary of arrays)."
        )
    raw = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in raw.items()}
    present = [k for k in REQUIRED_KEYS if k in raw]
    if not present:
        shown = ", ".join(sorted(str(k) for k in raw)[:8]) or "none"
        raise FlameModelError(f"{label} is not a FLAME model: none of the FLAME arrays are in it (its keys: {shown}).")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise FlameModelError(f"{label} is an incomplete FLAME model: missing key(s) {', '.join(missing)}.")

    arrays = {k: _array(raw[k], k, label) for k in REQUIRED_KEYS}
    v_template = _float(arrays["v_template"], "v_template", label)
    if v_template.ndim != 2 or v_template.shape[1] != 3 or v_template.shape[0] < 4:
        raise FlameModelError(_shape_msg(label, "v_template", "(V, 3)", v_template.shape))
    nv = v_template.shape[0]

    faces = _faces(arrays["f"], nv, label)
    shapedirs, exprdirs = _split_shapedirs(raw, arrays["shapedirs"], nv, label)

    j_regressor = _float(arrays["J_regressor"], "J_regressor", label)
    if j_regressor.ndim != 2 or j_regressor.shape[1] != nv:
        raise FlameModelError(_shape_msg(label, "J_regressor", f"(J, {nv})", j_regressor.shape))
    nj = j_regressor.shape[0]
    if nj != JOINT_COUNT:
        raise FlameModelError(f"{label}: J_regressor has {nj} joints; FLAME has {JOINT_COUNT} "
                              "(global, neck, jaw, left eye, right eye).")

    weights = _float(arrays["weights"], "weights", label)
    if weights.shape != (nv, nj):
        raise FlameModelError(_shape_msg(label, "weights", f"({nv}, {nj})", weights.shape))
    sums = weights.sum(axis=1, keepdims=True)
    if np.any(sums <= 1e-8):
        raise FlameModelError(f"{label}: some vertices have no skinning weight at all.")
    weights = (weights / sums).astype(np.float32)

    posedirs = _posedirs(arrays["posedirs"], nv, nj, label)
    parents = _parents(arrays["kintree_table"], nj, label)
    vt, ft, notes = _uvs(raw, faces.shape[0], label)

    return FlameModel(
        v_template=v_template.astype(np.float32),
        faces=faces,
        shapedirs=shapedirs,
        exprdirs=exprdirs,
        posedirs=posedirs,
        J_regressor=j_regressor.astype(np.float32),
        weights=weights,
        parents=parents,
        vt=vt,
        ft=ft,
        source=source,
        notes=tuple(notes),
    )


def _array(value: Any, key: str, label: str) -> np.ndarray:
    try:
        return to_array(value, what=key)
    except UnsupportedContentError as exc:
        raise FlameModelError(f"{label}: {exc}.") from None


def _float(arr: np.ndarray, key: str, label: str) -> np.ndarray:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise FlameModelError(f"{label}: {key} is not numeric (dtype {arr.dtype}).")
    out = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise FlameModelError(f"{label}: {key} contains NaN or infinite values.")
    return out


def _shape_msg(label: str, key: str, expected: str, got: tuple[int, ...]) -> str:
    return f"{label}: {key} has shape {tuple(got)}, expected {expected}."


def _faces(arr: np.ndarray, nv: int, label: str) -> np.ndarray:
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise FlameModelError(f"{label}: f (triangles) must hold integer vertex indices, got {arr.dtype}.")
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise FlameModelError(_shape_msg(label, "f", "(F, 3)", arr.shape))
    wide = arr.astype(np.int64)
    if wide.min() < 0 or wide.max() >= nv:
        raise FlameModelError(f"{label}: f refers to vertex {int(wide.max())} but the model has {nv} vertices.")
    return wide.astype(np.int32)


def _split_shapedirs(raw: dict[str, Any], arr: np.ndarray, nv: int, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Identity and expression bases.

    Real files hold 300 identity + 100 expression components in one array. Smaller
    (e.g. synthetic) files may say where the split is with an integer ``n_shape``;
    otherwise the last 50 components are taken as the expression basis.
    """
    dirs = _float(arr, "shapedirs", label)
    if dirs.ndim != 3 or dirs.shape[:2] != (nv, 3):
        raise FlameModelError(_shape_msg(label, "shapedirs", f"({nv}, 3, S)", dirs.shape))
    total = dirs.shape[2]
    for key in ("exprdirs", "expressiondirs"):
        if key in raw:
            expr = _float(_array(raw[key], key, label), key, label)
            if expr.ndim != 3 or expr.shape[:2] != (nv, 3):
                raise FlameModelError(_shape_msg(label, key, f"({nv}, 3, E)", expr.shape))
            return dirs.astype(np.float32), expr.astype(np.float32)
    if "n_shape" in raw:
        try:
            n_shape = int(np.asarray(to_array(raw["n_shape"], what="n_shape")).reshape(()))
        except (UnsupportedContentError, ValueError, TypeError):
            raise FlameModelError(f"{label}: n_shape must be a single integer.") from None
    elif total >= FLAME_SHAPE_COMPONENTS + FLAME_EXPRESSION_USED:
        n_shape = FLAME_SHAPE_COMPONENTS
    else:
        n_shape = total - FLAME_EXPRESSION_USED
    if not 0 <= n_shape < total:
        raise FlameModelError(
            f"{label}: shapedirs has only {total} components; FLAME needs identity components followed by "
            f"expression components (300 + 100 in the official files)."
        )
    return dirs[:, :, :n_shape].astype(np.float32), dirs[:, :, n_shape:].astype(np.float32)


def _posedirs(arr: np.ndarray, nv: int, nj: int, label: str) -> np.ndarray:
    """(V, 3, P) pose correctives; also accepts the pre-transposed (P, V*3) layout some converters write."""
    dirs = _float(arr, "posedirs", label)
    count = 9 * (nj - 1)
    if dirs.shape == (nv, 3, count):
        return dirs.astype(np.float32)
    if dirs.shape == (count, nv * 3):
        return dirs.reshape(count, nv, 3).transpose(1, 2, 0).astype(np.float32)
    raise FlameModelError(_shape_msg(label, "posedirs", f"({nv}, 3, {count})", dirs.shape))


def _parents(arr: np.ndarray, nj: int, label: str) -> np.ndarray:
    if arr.ndim != 2 or arr.shape != (2, nj) or not np.issubdtype(arr.dtype, np.number):
        raise FlameModelError(_shape_msg(label, "kintree_table", f"(2, {nj})", arr.shape))
    parents = arr[0].astype(np.int64)
    # The root's parent is stored as -1 or as 2**32 - 1 (an unsigned -1).
    parents[(parents < 0) | (parents >= nj)] = -1
    if parents[0] != -1 or any(parents[j] >= j or parents[j] < 0 for j in range(1, nj)):
        raise FlameModelError(f"{label}: kintree_table does not list parents before children ({arr.tolist()}).")
    return parents


def _uvs(raw: dict[str, Any], n_faces: int, label: str) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    if "vt" not in raw or "ft" not in raw:
        return None, None, []
    try:
        vt = np.asarray(to_array(raw["vt"], what="vt"), dtype=np.float32)
        ft = np.asarray(to_array(raw["ft"], what="ft"))
    except UnsupportedContentError as exc:
        return None, None, [f"UVs ignored: {exc}"]
    if (vt.ndim != 2 or vt.shape[1] != 2 or ft.shape != (n_faces, 3) or not np.issubdtype(ft.dtype, np.integer)
            or ft.min() < 0 or ft.max() >= len(vt)):
        return None, None, [f"UVs ignored: vt {vt.shape} / ft {ft.shape} do not match the {n_faces} triangles"]
    return vt, ft.astype(np.int32), []
