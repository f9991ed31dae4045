"""Eyeballs for the default head.

hm08's ``helper-*-eye`` spheres have 72 vertices each: too coarse to carry an
iris and a pupil in vertex colours (the pupil would be one blurry octagon).
We replace each with a finer UV sphere at the same centre and size, whose
rings sit exactly on the pupil and iris edges, so flat-shaded vertex colours
give crisp eyes. Everything the source data says about the helper sphere
(face-unit offsets such as eyeLook*, identity targets) is carried over with a
least-squares affine map from helper vertices to the new ones: an eye moves
as a rigid body, and an affine map reproduces rigid motion (and uniform
scaling) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Polar angles (degrees from the gaze axis) of the sphere's rings. The
#: pupil edge (8.5 deg) and the iris edge (26 deg: hm08's eye is 30 mm across,
#: so a 12 mm iris) each get a ring on both sides so colours change sharply there.
RING_ANGLES_DEG = (3.0, 6.0, 8.0, 9.0, 13.0, 18.0, 22.0, 25.5, 26.5, 30.0, 38.0, 48.0, 60.0, 75.0, 90.0,
                   110.0, 130.0, 150.0, 165.0)
SEGMENTS = 24
PUPIL_DEG = 8.5
IRIS_DEG = 26.0

SCLERA = (0.93, 0.92, 0.89, 1.0)
IRIS = (0.33, 0.46, 0.58, 1.0)
IRIS_EDGE = (0.14, 0.19, 0.25, 1.0)
PUPIL = (0.02, 0.02, 0.025, 1.0)


@dataclass(frozen=True)
class EyeMesh:
    """One generated eyeball (native units of the source mesh)."""

    vertices: np.ndarray  # (N, 3)
    triangles: np.ndarray  # (M, 3) local indices
    uvs: np.ndarray  # (N, 2)
    colors: np.ndarray  # (N, 4)
    transfer: np.ndarray  # (N, H): helper-vertex offsets -> new-vertex offsets


def eye_frame(forward: np.ndarray) -> np.ndarray:
    """Rows: right, up, forward -- an orthonormal frame around the gaze axis (world up is +Y)."""
    f = forward / np.linalg.norm(forward)
    up = np.array([0.0, 1.0, 0.0]) - f[1] * f
    up /= np.linalg.norm(up)
    right = np.cross(up, f)
    return np.stack([right, up, f])


def iris_color(angle_deg: np.ndarray) -> np.ndarray:
    """RGBA per vertex from its angle to the gaze axis: pupil, iris (darker at its rim), sclera."""
    a = np.asarray(angle_deg, dtype=np.float64)[:, None]
    rim = np.clip((a - 18.0) / (IRIS_DEG - 18.0), 0.0, 1.0)
    iris = (1.0 - rim) * np.array(IRIS) + rim * np.array(IRIS_EDGE)
    out = np.where(a < PUPIL_DEG, np.array(PUPIL), np.where(a <= IRIS_DEG, iris, np.array(SCLERA)))
    return out.astype(np.float32)


def make_eye(
    center: np.ndarray,
    forward: np.ndarray,
    radius: float,
    helper_vertices: np.ndarray,
    uv_box: tuple[np.ndarray, np.ndarray],
) -> EyeMesh:
    """A UV sphere around ``center`` facing ``forward``, plus the transfer map from the helper sphere.

    UVs are a front planar projection into ``uv_box`` (the helper eye's corner
    of the texture atlas), so a MakeHuman-style eye texture still lands on it.
    """
    frame = eye_frame(np.asarray(forward, dtype=np.float64))
    theta = np.radians(np.asarray(RING_ANGLES_DEG))
    phi = np.linspace(0.0, 2.0 * np.pi, SEGMENTS, endpoint=False)
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    local = np.stack([st * np.cos(phi), st * np.sin(phi), np.broadcast_to(ct, (len(theta), SEGMENTS))], axis=-1)
    local = np.concatenate([[[0.0, 0.0, 1.0]], local.reshape(-1, 3), [[0.0, 0.0, -1.0]]])
    vertices = center + radius * (local @ frame)

    rings, seg = len(theta), SEGMENTS
    tris: list[tuple[int, int, int]] = []
    ring = lambda r, s: 1 + r * seg + (s % seg)  # noqa: E731 - tiny index helper
    back = 1 + rings * seg
    for s in range(seg):
        # Winding chosen so normals point outwards (away from the centre).
        tris.append((0, ring(0, s), ring(0, s + 1)))
        for r in range(rings - 1):
            a, b, c, d = ring(r, s), ring(r + 1, s), ring(r + 1, s + 1), ring(r, s + 1)
            tris += [(a, b, c), (a, c, d)]
        tris.append((back, ring(rings - 1, s + 1), ring(rings - 1, s)))
    triangles = np.asarray(tris, dtype=np.int64)

    lo, hi = uv_box
    uvs = lo + (0.5 + 0.5 * local[:, :2]) * (hi - lo)
    angle = np.degrees(np.arccos(np.clip(local[:, 2], -1.0, 1.0)))
    return EyeMesh(vertices, triangles, uvs, iris_color(angle), affine_transfer(helper_vertices, vertices))


def affine_transfer(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, H) matrix M with ``M @ d`` = the best affine offset field on ``target`` for offsets ``d`` on ``source``.

    Fits offsets d_i ~ A x_i + b over the source points by least squares and
    evaluates the fit at the target points; linear in d, so one matrix serves
    every shape target.
    """
    src = np.hstack([source, np.ones((len(source), 1))])
    dst = np.hstack([target, np.ones((len(target), 1))])
    return dst @ np.linalg.pinv(src)
