"""A small synthetic FLAME model file, for tests, benchmarks and screenshots.

FLAME itself may not be redistributed, yet the loader, the rig and the GUI
need a FLAME file to exercise. :func:`write_synthetic_flame` writes one in
FLAME's own format: a head-like closed mesh (Y-up, metres, facing +Z, with
a jaw region below the mouth and two eyeballs), a joint regressor, smooth
skinning weights and smooth identity / expression / pose-corrective bases.

With ``chumpy_style=True`` the bytes are a Python 2 style protocol-2 pickle
that names exactly the globals the official FLAME 2020 file names
(``chumpy.ch.Ch``, ``scipy.sparse.csc.csc_matrix``,
``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``,
``__builtin__.set``), so the restricted unpickler is tested against the real
thing. Neither chumpy nor scipy is needed to write it: the opcodes are
emitted directly. With ``chumpy_style=False`` the file looks like FLAME 2023
Open (a protocol-5 pickle of plain numpy arrays and a scipy CSC matrix).
"""

from __future__ import annotations

import io
import pickle
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Landmarks of the synthetic head (metres, Y-up, face toward +Z).
_CENTER = np.array([0.0, 0.012, -0.004])
_RADII = np.array([0.074, 0.096, 0.09])
_MOUTH_Y = -0.0425
_EYE = np.array([0.033, 0.029])  # x (mirrored), y of the eye centres
_EYE_RADIUS = 0.0125
_NECK_BOTTOM = -0.112
_NECK_CENTER_Z = -0.02
_JAW_JOINT = np.array([0.0, -0.022, -0.012])


# --------------------------------------------------------------------------- pickle writing


@dataclass(frozen=True)
class _Object:
    """An instance of ``module.name`` rebuilt by ``cls.__new__(cls)`` + ``__setstate__(state)`` (NEWOBJ + BUILD)."""

    module: str
    name: str
    state: dict[str, Any]


@dataclass(frozen=True)
class _Global:
    """The global ``module.name`` itself (GLOBAL), or called with ``args`` (GLOBAL + args + REDUCE)."""

    module: str
    name: str
    args: tuple[Any, ...] | None = None


class _Py2Pickler:
    """Writes protocol-2 opcodes the way Python 2's cPickle did for FLAME's dict of arrays.

    Only the types a FLAME file holds are supported. Strings and array bytes are
    written as Python 2 ``str`` (BINSTRING), hence ``encoding="latin1"`` on load.
    """

    def __init__(self) -> None:
        self._out = io.BytesIO()

    def dumps(self, obj: Any) -> bytes:
        self._out.write(pickle.PROTO + b"\x02")
        self._save(obj)
        self._out.write(pickle.STOP)
        return self._out.getvalue()

    def _global(self, module: str, name: str) -> None:
        self._out.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))

    def _save(self, obj: Any) -> None:
        w = self._out.write
        if obj is None:
            w(pickle.NONE)
        elif isinstance(obj, bool | np.bool_):
            w(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif isinstance(obj, int):
            self._save_int(obj)
        elif isinstance(obj, float):
            w(pickle.BINFLOAT + struct.pack(">d", obj))
        elif isinstance(obj, str | bytes):
            self._save_str(obj.encode("latin1") if isinstance(obj, str) else obj)
        elif isinstance(obj, tuple):
            self._save_tuple(obj)
        elif isinstance(obj, list):
            w(pickle.EMPTY_LIST)
            if obj:
                w(pickle.MARK)
                for item in obj:
                    self._save(item)
                w(pickle.APPENDS)
        elif isinstance(obj, dict):
            w(pickle.EMPTY_DICT)
            if obj:
                w(pickle.MARK)
                for key, value in obj.items():
                    self._save(key)
                    self._save(value)
                w(pickle.SETITEMS)
        elif isinstance(obj, set):
            self._global("__builtin__", "set")
            self._save((sorted(obj),))
            w(pickle.REDUCE)
        elif isinstance(obj, np.ndarray):
            self._save_array(obj)
        elif isinstance(obj, np.dtype):
            self._save_dtype(obj)
        elif isinstance(obj, _Object):
            self._global(obj.module, obj.name)
            w(pickle.EMPTY_TUPLE + pickle.NEWOBJ)
            self._save(obj.state)
            w(pickle.BUILD)
        elif isinstance(obj, _Global):
            self._global(obj.module, obj.name)
            if obj.args is not None:
                self._save(obj.args)
                w(pickle.REDUCE)
        else:  # pragma: no cover - programming error
            raise TypeError(f"cannot write {type(obj).__name__} into a FLAME pickle")

    def _save_int(self, value: int) -> None:
        if 0 <= value < 256:
            self._out.write(pickle.BININT1 + struct.pack("<B", value))
        elif -(2**31) <= value < 2**31:
            self._out.write(pickle.BININT + struct.pack("<i", value))
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self._out.write(pickle.LONG1 + struct.pack("<B", len(raw)) + raw)

    def _save_str(self, raw: bytes) -> None:
        if len(raw) < 256:
            self._out.write(pickle.SHORT_BINSTRING + struct.pack("<B", len(raw)) + raw)
        else:
            self._out.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)

    def _save_tuple(self, items: tuple[Any, ...]) -> None:
        if not items:
            self._out.write(pickle.EMPTY_TUPLE)
            return
        if len(items) > 3:
            self._out.write(pickle.MARK)
        for item in items:
            self._save(item)
        self._out.write({1: pickle.TUPLE1, 2: pickle.TUPLE2, 3: pickle.TUPLE3}.get(len(items), pickle.TUPLE))

    def _save_dtype(self, dtype: np.dtype) -> None:
        _, args, state = dtype.__reduce__()
        self._global("numpy", "dtype")
        self._save((args[0], int(args[1]), int(args[2])))  # Python 2 numpy wrote ints, not bools
        self._out.write(pickle.REDUCE)
        self._save(tuple(state))
        self._out.write(pickle.BUILD)

    def _save_array(self, arr: np.ndarray) -> None:
        # numpy's own reduction: _reconstruct(ndarray, (0,), 'b'), then BUILD with (version, shape, dtype,
        # fortran, raw bytes) -- the raw bytes as a Python 2 str.
        arr = np.ascontiguousarray(arr)
        self._global("numpy.core.multiarray", "_reconstruct")
        self._save((_Global("numpy", "ndarray"), (0,), b"b"))
        self._out.write(pickle.REDUCE)
        self._save((1, tuple(int(n) for n in arr.shape), arr.dtype, False, arr.tobytes()))
        self._out.write(pickle.BUILD)


def _py2_pickle(obj: Any) -> bytes:
    return _Py2Pickler().dumps(obj)


def _ch(array: np.ndarray) -> _Object:
    """A ``chumpy.ch.Ch`` holding ``array``, with the bookkeeping fields chumpy pickles alongside ``x``."""
    state = {"x": np.asarray(array, dtype=np.float64), "_dirty_vars": {"x"}, "_itr": None,
             "_make_dense": False, "_make_sparse": False, "_depends_on_deps": {}}
    return _Object("chumpy.ch", "Ch", state)


def _csc(dense: np.ndarray) -> _Object:
    """A Python 2 era ``scipy.sparse.csc.csc_matrix`` built from its defining arrays (no scipy needed)."""
    rows, cols = dense.shape
    mask = dense.T != 0  # column-major walk
    counts = mask.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    col_idx, row_idx = np.nonzero(mask)
    state = {"_shape": (int(rows), int(cols)), "maxprint": 50, "indices": row_idx.astype(np.int32),
             "indptr": indptr, "data": dense[row_idx, col_idx].astype(np.float64)}
    return _Object("scipy.sparse.csc", "csc_matrix", state)


# --------------------------------------------------------------------------- geometry


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _sphere_grid(n_lat: int, n_lon: int, theta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces and per-vertex (theta, phi) of a UV sphere: pole 0, rings, pole -1.

    ``theta`` (n_lat + 1 values from 0 to pi) and ``phi`` (n_lon values) may be non-uniform.
    """
    rings_t = np.repeat(theta[1:-1], n_lon)
    rings_p = np.tile(phi, n_lat - 1)
    tp = np.concatenate([[[0.0, 0.0]], np.stack([rings_t, rings_p], axis=1), [[np.pi, 0.0]]])
    j = np.arange(n_lon)
    jn = (j + 1) % n_lon
    a = 1 + np.arange(n_lat - 2)[:, None] * n_lon + j  # ring i, meridian j
    b = a - j + jn
    quads = np.concatenate([np.stack([a, a + n_lon, b + n_lon], -1), np.stack([a, b + n_lon, b], -1)], axis=1)
    last, base = 1 + (n_lat - 1) * n_lon, 1 + (n_lat - 2) * n_lon
    top = np.stack([np.zeros(n_lon, int), 1 + j, 1 + jn], axis=1)
    bottom = np.stack([base + j, np.full(n_lon, last), base + jn], axis=1)
    return np.concatenate([top, quads.reshape(-1, 3), bottom]).astype(np.int64), tp


def _orient_outward(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip the winding if the closed surface's signed volume is negative (normals must point out)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum()
    return faces if volume > 0 else faces[:, ::-1].copy()


def _head_surface(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """Skin mesh: a UV sphere shaped into a cranium, face and neck (denser around the face)."""
    v = np.linspace(0.0, 1.0, n_lat + 1)
    theta = np.pi * (v + 0.45 * np.sin(2 * np.pi * v) / (2 * np.pi))  # finer rings around the face band
    u = np.arange(n_lon) / n_lon
    phi = 2 * np.pi * u - 0.55 * np.sin(2 * np.pi * u)  # finer meridians toward the front (phi = 0)
    faces, tp = _sphere_grid(n_lat, n_lon, theta, phi)
    t, p = tp[:, 0] / np.pi, tp[:, 1]
    sin_t, cos_t = np.sin(tp[:, 0]), np.cos(tp[:, 0])
    sp, cp = np.sin(p), np.cos(p)

    # Rounded-square horizontal cross-section (a superellipse) rather than a circle.
    square = 1.0 / (np.abs(sp) ** 2.6 + np.abs(cp) ** 2.6) ** (1 / 2.6)
    x = _RADII[0] * sin_t * sp * square
    y = _CENTER[1] + _RADII[1] * cos_t
    z = _CENTER[2] + _RADII[2] * sin_t * cp * square
    front = np.clip(cp, 0.0, 1.0)
    # Narrower jaw and chin below the cheekbones.
    x *= 1.0 - 0.26 * _smoothstep(0.0, -0.09, y) * (0.45 + 0.55 * front)
    x *= 1.0 + 0.07 * _smoothstep(0.03, 0.1, y)  # a rounder crown
    # A flatter face: pull the front of the ellipsoid back a little between brow and chin.
    z -= 0.006 * front ** 2 * _smoothstep(0.07, 0.03, y) * _smoothstep(-0.09, -0.05, y)

    # Neck: below the chin (front) / the skull base (back) the surface becomes a cylinder.
    start = 0.6 + 0.12 * front
    wn = _smoothstep(start, start + 0.16, t)[:, None]
    neck_y = -0.045 + (_NECK_BOTTOM + 0.045) * np.clip((t - 0.6) / 0.4, 0.0, 1.0)
    neck = np.stack([0.05 * sp, neck_y, _NECK_CENTER_Z + 0.05 * cp], axis=1)
    pts = (1.0 - wn) * np.stack([x, y, z], axis=1) + wn * neck
    pts[-1] = [0.0, _NECK_BOTTOM, _NECK_CENTER_Z]  # bottom pole: the cap of the neck

    # Facial features as displacements along the surface normal (approximated by the ellipsoid's).
    x, y = pts[:, 0], pts[:, 1]
    normal = (pts - _CENTER) / _RADII**2
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    fw = _smoothstep(0.25, 0.65, cp) * (1.0 - wn[:, 0])
    ax = np.abs(x)
    bump = (
        0.016 * _gauss(x, y, 0.0, -0.006, 0.0095, 0.017)      # nose
        + 0.008 * _gauss(x, y, 0.0, -0.047, 0.026, 0.02)      # muzzle: mouth and chin forward
        + 0.006 * _gauss(x, y, 0.0, -0.018, 0.0075, 0.0065)   # nose tip
        + 0.004 * _gauss(ax, y, 0.0125, -0.019, 0.0055, 0.005)  # nostril wings
        - 0.012 * _gauss(ax, y, _EYE[0], _EYE[1], 0.014, 0.0095)  # eye sockets
        + 0.006 * _gauss(ax, y, 0.03, 0.047, 0.019, 0.006)     # brow ridge
        + 0.007 * _gauss(ax, y, 0.046, 0.0, 0.014, 0.014)      # cheekbones
        + 0.0065 * _gauss(x, y, 0.0, -0.0355, 0.017, 0.0048)   # upper lip
        + 0.006 * _gauss(x, y, 0.0, -0.0495, 0.0145, 0.0048)   # lower lip
        - 0.0035 * _gauss(x, y, 0.0, _MOUTH_Y, 0.021, 0.0022)  # lip line
        - 0.003 * _gauss(x, y, 0.0, -0.06, 0.016, 0.005)       # groove under the lower lip
        + 0.008 * _gauss(x, y, 0.0, -0.074, 0.015, 0.011)      # chin
    ) * fw
    side = _smoothstep(0.86, 0.985, np.abs(sp)) * (1.0 - wn[:, 0])
    ears = 0.01 * _gauss(pts[:, 2], y, -0.008, 0.012, 0.008, 0.015) * side
    pts += (bump + ears)[:, None] * normal
    return pts, _orient_outward(pts, faces)


def _eyeball(n_lat: int, n_lon: int, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere whose poles lie on the Z axis, so the front pole is the pupil."""
    theta = np.linspace(0.0, np.pi, n_lat + 1)
    phi = 2 * np.pi * np.arange(n_lon) / n_lon
    faces, tp = _sphere_grid(n_lat, n_lon, theta, phi)
    st = np.sin(tp[:, 0])
    unit = np.stack([st * np.cos(tp[:, 1]), st * np.sin(tp[:, 1]), np.cos(tp[:, 0])], axis=1)
    pts = center + _EYE_RADIUS * unit
    return pts, _orient_outward(pts, faces)


def _resolution(hint: int) -> tuple[int, int, int, int]:
    """(head rings, head meridians, eye rings, eye meridians) whose vertex total is as close to ``hint`` as possible."""
    best: tuple[float, tuple[int, int, int, int]] | None = None
    eye_target = max(40.0, 0.035 * hint)  # FLAME's eyeballs hold a few percent of its vertices
    for e_lat in range(4, 21):
        for e_lon in range(6, 33):
            eye = (e_lat - 1) * e_lon + 2
            rest = hint - 2 - 2 * eye
            if rest < 7 * 8:
                continue
            for h_lat in range(8, 201):
                h_lon = max(8, round(rest / (h_lat - 1)))
                total = (h_lat - 1) * h_lon + 2 + 2 * eye
                score = (abs(total - hint) * 10.0 + abs(h_lon / (h_lat - 1) - 1.5) * 3.0
                         + abs(e_lon / (e_lat - 1) - 1.6) + abs(eye - eye_target) / eye_target)
                if best is None or score < best[0]:
                    best = (score, (h_lat, h_lon, e_lat, e_lon))
    if best is None:
        return 8, 8, 4, 6
    return best[1]


@dataclass
class _Head:
    verts: np.ndarray
    faces: np.ndarray
    eye_ids: tuple[np.ndarray, np.ndarray]  # left (+X), right (-X)
    eye_centers: np.ndarray  # (2, 3)

    @property
    def skin(self) -> np.ndarray:
        mask = np.ones(len(self.verts), bool)
        mask[np.concatenate(self.eye_ids)] = False
        return mask


def _build_head(hint: int) -> _Head:
    h_lat, h_lon, e_lat, e_lon = _resolution(hint)
    skin, skin_faces = _head_surface(h_lat, h_lon)
    centers = []
    for sign in (1.0, -1.0):
        # Sit each eyeball in its socket: its front pole just proud of the skin there.
        near = (np.hypot(skin[:, 0] - sign * _EYE[0], skin[:, 1] - _EYE[1]) < 0.008) & (skin[:, 2] > 0)
        surface_z = skin[near, 2].max() if near.any() else _CENTER[2] + _RADII[2] * 0.9
        centers.append([sign * _EYE[0], _EYE[1], surface_z + 0.0035 - _EYE_RADIUS])
    centers_arr = np.array(centers)
    verts, faces, eye_ids = [skin], [skin_faces], []
    offset = len(skin)
    for center in centers_arr:
        ball, ball_faces = _eyeball(e_lat, e_lon, center)
        verts.append(ball)
        faces.append(ball_faces + offset)
        eye_ids.append(np.arange(offset, offset + len(ball)))
        offset += len(ball)
    return _Head(np.concatenate(verts), np.concatenate(faces), (eye_ids[0], eye_ids[1]), centers_arr)


# --------------------------------------------------------------------------- rig data


def _jaw_weight(pts: np.ndarray) -> np.ndarray:
    """How much of each skin vertex follows the jaw: below the lip line, in front of the hinge, above the neck."""
    y, z = pts[:, 1], pts[:, 2]
    # The fade widens toward the cheeks so opening does not shear the face along the lip line's extension.
    cheek = _smoothstep(0.018, 0.05, np.abs(pts[:, 0]))
    below_mouth = _smoothstep(_MOUTH_Y + 0.004 + 0.012 * cheek, _MOUTH_Y - 0.008 - 0.014 * cheek, y)
    in_front = _smoothstep(-0.03, 0.02, z)
    above_neck = _smoothstep(-0.1, -0.078, y)
    return below_mouth * in_front * above_neck


def _skin_weights(head: _Head) -> np.ndarray:
    weights = np.zeros((len(head.verts), 5))
    skin = head.skin
    pts = head.verts[skin]
    w_global = _smoothstep(-0.085, -0.108, pts[:, 1])
    w_jaw = _jaw_weight(pts) * (1.0 - w_global)
    weights[skin, 0] = w_global
    weights[skin, 2] = w_jaw
    weights[skin, 1] = 1.0 - w_global - w_jaw
    weights[head.eye_ids[0], 3] = 1.0
    weights[head.eye_ids[1], 4] = 1.0
    return weights


def _near(ids: np.ndarray, values: np.ndarray, target: float, tol: float) -> np.ndarray:
    """``ids`` whose ``values`` lie within ``tol`` of ``target``; ``tol`` widens until some do (coarse meshes)."""
    while True:
        hit = ids[np.abs(values[ids] - target) < tol]
        if hit.size or tol > 1.0:
            return hit
        tol *= 1.5


def _pick(values: np.ndarray, candidates: np.ndarray) -> int:
    return int(candidates[np.argmax(values[candidates])])


def _joint_regressor(head: _Head) -> np.ndarray:
    """Rows average a few surface vertices around each joint (as FLAME's regressor does), eyes their eyeball."""
    v = head.verts
    skin_ids = np.flatnonzero(head.skin)
    reg = np.zeros((5, len(v)))
    for joint, y_target in ((0, -0.1), (1, -0.066)):
        # Front, back, left and right of the neck's cross-section: their mean is its centre.
        band = _near(skin_ids, v[:, 1], y_target, 0.006)
        mid = _near(band, v[:, 0], 0.0, 0.006)
        ids = [_pick(v[:, 0], band), _pick(-v[:, 0], band), _pick(v[:, 2], mid), _pick(-v[:, 2], mid)]
        reg[joint, ids] = 0.25
    # Jaw hinge: the pair of cheek vertices nearest the hinge line, left and right.
    hinge = _near(_near(skin_ids, v[:, 1], _JAW_JOINT[1], 0.006), v[:, 2], _JAW_JOINT[2], 0.01)
    reg[2, [_pick(v[:, 0], hinge), _pick(-v[:, 0], hinge)]] = 0.5
    for joint, ids in ((3, head.eye_ids[0]), (4, head.eye_ids[1])):
        reg[joint, ids] = 1.0 / len(ids)
    return reg


def _fourier_fields(points: np.ndarray, count: int, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """(N, 3, count) smooth random vector fields: a few low-frequency waves per component."""
    out = np.zeros((len(points), 3, count))
    for k in range(count):
        for axis in range(3):
            freqs = rng.normal(size=(4, 3)) * (2 * np.pi / 0.16)
            phases = rng.uniform(0, 2 * np.pi, size=4)
            amps = rng.normal(size=4)
            out[:, axis, k] = np.sin(points @ freqs.T + phases) @ amps
    out *= amplitude / max(np.abs(out).max(), 1e-12)
    return out


def _rigid_eyes(fields: np.ndarray, head: _Head, at_centers: np.ndarray | None) -> np.ndarray:
    """Eyeballs move as a whole (identity) or not at all (expression/pose): never deform them."""
    for side, ids in enumerate(head.eye_ids):
        fields[ids] = 0.0 if at_centers is None else at_centers[side]
    return fields


def _identity_dirs(head: _Head, count: int, rng: np.random.Generator) -> np.ndarray:
    """Identity basis: a few readable components (size, width, face length, nose, jaw) then smooth random ones."""

    def fields(p: np.ndarray) -> np.ndarray:
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        zero = np.zeros_like(x)
        lower = _smoothstep(0.03, -0.06, y)
        nose = _gauss(x, y, 0.0, -0.01, 0.012, 0.02) * _smoothstep(0.03, 0.07, z)
        jaw = _jaw_weight(p)
        crafted = [
            (p - _CENTER) * 0.035,
            np.stack([0.07 * x, zero, zero], axis=1),
            np.stack([zero, 0.06 * (y - 0.03) * lower, zero], axis=1),
            np.stack([zero, -0.002 * nose, 0.006 * nose], axis=1),
            np.stack([0.1 * x * jaw, zero, zero], axis=1),
            np.stack([zero, zero, -0.05 * np.maximum(y - 0.04, 0.0) * _smoothstep(0.0, 0.05, z)], axis=1),
        ]
        return np.stack(crafted[:count], axis=2)

    crafted = min(count, 6)
    dirs = np.zeros((len(head.verts), 3, count))
    dirs[:, :, :crafted] = fields(head.verts)[:, :, :crafted]
    if count > crafted:
        dirs[:, :, crafted:] = _fourier_fields(head.verts, count - crafted, rng, 0.004)
    at_centers = np.zeros((2, 3, count))
    at_centers[:, :, :crafted] = fields(head.eye_centers)[:, :, :crafted]
    if count > crafted:
        # The random components move each eyeball by the mean of its vertices' displacements (rigidly).
        for side, ids in enumerate(head.eye_ids):
            at_centers[side, :, crafted:] = dirs[ids, :, crafted:].mean(axis=0)
    return _rigid_eyes(dirs, head, at_centers)


def _expression_dirs(head: _Head, count: int, rng: np.random.Generator) -> np.ndarray:
    """Expression basis: readable first components (mouth open, smile, brows, pucker...) then local random bumps."""
    p = head.verts
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    front = _smoothstep(0.0, 0.05, z)
    zero = np.zeros_like(x)
    sgn = np.sign(x)
    corners = _gauss(np.abs(x), y, 0.024, _MOUTH_Y, 0.011, 0.009) * front
    lips = _gauss(x, y, 0.0, _MOUTH_Y, 0.02, 0.011) * front
    brows = _gauss(np.abs(x), y, 0.03, 0.05, 0.018, 0.012) * front
    inner_brows = _gauss(np.abs(x), y, 0.014, 0.046, 0.01, 0.009) * front
    cheeks = _gauss(np.abs(x), y, 0.042, -0.028, 0.014, 0.014) * front
    jaw = _jaw_weight(p)
    crafted = [
        np.stack([zero, -0.005 * jaw, -0.0015 * jaw], axis=1),                     # mouth open
        np.stack([0.0025 * sgn * corners, 0.003 * corners, -0.0015 * corners], axis=1),  # smile
        np.stack([zero, 0.0035 * brows, zero], axis=1),                            # brows up
        np.stack([-0.12 * x * lips, zero, 0.004 * lips], axis=1),                  # pucker
        np.stack([-0.0015 * sgn * inner_brows, -0.0025 * inner_brows, zero], axis=1),  # frown
        np.stack([0.002 * sgn * cheeks, zero, 0.002 * cheeks], axis=1),            # cheek puff
        np.stack([zero, -0.003 * corners, zero], axis=1),                          # mouth corners down
        np.stack([0.003 * sgn * corners, zero, -0.001 * corners], axis=1),         # mouth stretch
    ]
    dirs = np.zeros((len(p), 3, count))
    n_crafted = min(count, len(crafted))
    for k in range(n_crafted):
        dirs[:, :, k] = crafted[k]
    for k in range(n_crafted, count):
        cx, cy = rng.uniform(-0.045, 0.045), rng.uniform(-0.075, 0.06)
        sigma = rng.uniform(0.01, 0.02)
        direction = rng.normal(size=3)
        direction *= rng.uniform(0.0015, 0.003) / np.linalg.norm(direction)
        dirs[:, :, k] = _gauss(x, y, cx, cy, sigma, sigma)[:, None] * front[:, None] * direction
    return _rigid_eyes(dirs, head, None)


def _pose_dirs(head: _Head, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V, 3, 36) correctives: neck features act on the neck, jaw features on the jaw; eye joints have none."""
    p = head.verts
    dirs = np.zeros((len(p), 3, 36))
    neck_mask = _smoothstep(-0.03, -0.08, p[:, 1]) * head.skin
    jaw_mask = weights[:, 2]
    dirs[:, :, 0:9] = _fourier_fields(p, 9, rng, 0.003) * neck_mask[:, None, None]
    dirs[:, :, 9:18] = _fourier_fields(p, 9, rng, 0.002) * jaw_mask[:, None, None]
    # Jaw opening (the sin term of R - I at row 2, col 1) thickens the lower lip and pulls it back a little.
    lower_lip = _gauss(p[:, 0], p[:, 1], 0.0, -0.05, 0.016, 0.006) * jaw_mask
    dirs[:, 2, 9 + 7] += -0.008 * lower_lip
    return _rigid_eyes(dirs, head, None)


def _sphere_uvs(head: _Head) -> tuple[np.ndarray, np.ndarray]:
    """Per-corner spherical UVs (seam-safe: corners are deduplicated by value, not by vertex)."""
    rel = head.verts - _CENTER
    u = (np.arctan2(rel[:, 0], rel[:, 2]) / (2 * np.pi)) % 1.0
    v = 0.5 + np.arcsin(np.clip(rel[:, 1] / np.linalg.norm(rel, axis=1), -1, 1)) / np.pi
    corner_u, corner_v = u[head.faces], v[head.faces]
    # Triangles straddling the back seam get their small u values wrapped past 1.
    wrap = (corner_u.max(axis=1) - corner_u.min(axis=1)) > 0.5
    corner_u[wrap] = np.where(corner_u[wrap] < 0.5, corner_u[wrap] + 1.0, corner_u[wrap])
    corners = np.stack([corner_u.ravel() * 0.999, corner_v.ravel()], axis=1)
    vt, ft = np.unique(np.round(corners, 6), axis=0, return_inverse=True)
    return vt.astype(np.float64), ft.reshape(-1, 3).astype(np.int64)


def synthetic_flame_dict(*, vertex_count_hint: int = 5023, n_shape: int = 10, n_expr: int = 50, seed: int = 0,
                         with_uvs: bool = False) -> dict[str, Any]:
    """The synthetic model as a dict of numpy arrays with FLAME's keys (dense ``J_regressor``)."""
    if n_shape < 1 or n_expr < 1:
        raise ValueError("n_shape and n_expr must be at least 1")
    rng = np.random.default_rng(seed)
    head = _build_head(int(vertex_count_hint))
    weights = _skin_weights(head)
    reg = _joint_regressor(head)
    shapedirs = np.concatenate([_identity_dirs(head, n_shape, rng), _expression_dirs(head, n_expr, rng)], axis=2)
    kintree = np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
    out: dict[str, Any] = {
        "f": head.faces.astype(np.uint32),
        "v_template": head.verts.astype(np.float64),
        "shapedirs": shapedirs,
        "posedirs": _pose_dirs(head, weights, rng),
        "J_regressor": reg,
        "weights": weights,
        "kintree_table": kintree,
        "J": reg @ head.verts,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    if n_expr != 50:
        # The loader otherwise takes the last 50 components of a small file as its expressions.
        out["n_shape"] = int(n_shape)
    if with_uvs:
        out["vt"], out["ft"] = _sphere_uvs(head)
    return out


def write_synthetic_flame(path: str | Path, *, vertex_count_hint: int = 5023, n_shape: int = 10, n_expr: int = 50,
                          chumpy_style: bool = True, seed: int = 0, with_uvs: bool = False) -> Path:
    """Write a synthetic FLAME-format pickle to ``path`` and return the path.

    ``chumpy_style=True``: Python 2 / chumpy layout as in FLAME 2020 (``shapedirs``, ``posedirs``,
    ``v_template`` and ``weights`` as ``chumpy.ch.Ch``, ``J_regressor`` as ``scipy.sparse.csc.csc_matrix``,
    protocol 2). ``chumpy_style=False``: FLAME 2023 Open layout (protocol 5, numpy arrays, scipy CSC matrix).
    """
    data = synthetic_flame_dict(vertex_count_hint=vertex_count_hint, n_shape=n_shape, n_expr=n_expr, seed=seed,
                                with_uvs=with_uvs)
    out = Path(path)
    if chumpy_style:
        for key in ("shapedirs", "posedirs", "v_template", "weights"):
            data[key] = _ch(data[key])
        data["J_regressor"] = _csc(data["J_regressor"])
        payload = _py2_pickle(data)
    else:
        import scipy.sparse

        data["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
        payload = pickle.dumps(data, protocol=5)
    out.write_bytes(payload)
    return out


def write_synthetic_flame_npz(path: str | Path, **kwargs: Any) -> Path:
    """The synthetic model as an ``.npz`` (plain arrays, loadable with ``allow_pickle=False``)."""
    data = synthetic_flame_dict(**kwargs)
    data["bs_style"], data["bs_type"] = np.str_(data["bs_style"]), np.str_(data["bs_type"])
    out = Path(path)
    with out.open("wb") as handle:
        np.savez(handle, **data)
    return out


# --------------------------------------------------------------------------- hostile files for tests

#: Payloads :func:`write_malicious_pickle` can plant, by the global they abuse.
MALICIOUS_GLOBALS: tuple[str, ...] = ("os.system", "posix.system", "builtins.eval", "subprocess.Popen")


def write_malicious_pickle(path: str | Path, *, sentinel: str | Path | None = None,
                           payload: str = "os.system") -> Path:
    """Write a FLAME-looking pickle whose loading *would* create ``sentinel`` via ``payload``; return the sentinel.

    A safe loader must refuse it; the sentinel file existing afterwards proves code ran. The
    default sentinel is ``<path>.pwned`` beside the pickle.
    """
    out = Path(path)
    marker = Path(sentinel) if sentinel is not None else out.with_name(out.name + ".pwned")
    if payload in ("os.system", "posix.system"):
        module, name = payload.split(".")
        call = _Global(module, name, (f"touch {shlex.quote(str(marker))}",))
    elif payload == "builtins.eval":
        call = _Global("builtins", "eval", (f"__import__('pathlib').Path({str(marker)!r}).touch()",))
    elif payload == "subprocess.Popen":
        call = _Global("subprocess", "Popen", (["touch", str(marker)],))
    else:
        raise ValueError(f"unknown payload {payload!r}; choose from {', '.join(MALICIOUS_GLOBALS)}")
    bait = {"f": np.zeros((1, 3), dtype=np.uint32), "v_template": call, "bs_style": "lbs"}
    out.write_bytes(_py2_pickle(bait))
    return marker
