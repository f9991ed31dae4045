"""The mouth of the default head: its lining, and teeth/tongue that follow the jaw without poking out.

hm08 models the inside of the mouth as a pocket of the skin with its own UV
island; teeth and tongue are separate helper meshes. The face units move the
lower teeth and tongue along with jawOpen and friends, but on jawForward and
jawLeft/Right they move them further forward than the lower lip in front of
them, so at full weight the incisors reach the lip's outer surface (and would
z-fight through it). :func:`limit_jaw_followers` scales such a target's
teeth/tongue motion down just enough to keep a margin of lip in front.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

JAW_TARGETS = ("jawOpen", "jawForward", "jawLeft", "jawRight")
#: How far behind the front-most tooth a follower vertex may sit and still be checked against the lips
#: (native decimetres: 2.5 cm).
FRONT_DEPTH = 0.25


def lining_faces(vertices: np.ndarray, faces: np.ndarray, face_uvs: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Boolean mask of the skin triangles that line the mouth.

    They form their own UV island, the one lying mostly around the teeth and
    tongue (vertex indices ``inner``).
    """
    uv_edges = np.concatenate([face_uvs[:, [0, 1]], face_uvs[:, [1, 2]]])
    n_uv = int(face_uvs.max()) + 1
    graph = sparse.coo_matrix((np.ones(len(uv_edges)), (uv_edges[:, 0], uv_edges[:, 1])), shape=(n_uv, n_uv))
    island = csgraph.connected_components(graph, directed=False)[1][face_uvs[:, 0]]
    lo, hi = vertices[inner].min(axis=0), vertices[inner].max(axis=0)
    pad = 0.25 * (hi - lo).max()
    inside = np.all((vertices >= lo - pad) & (vertices <= hi + pad), axis=1)
    largest = np.bincount(island).argmax()
    mask = np.zeros(len(faces), dtype=bool)
    for label in np.unique(island):
        sel = island == label
        if label != largest and inside[np.unique(faces[sel])].mean() >= 0.6:
            mask |= sel
    return mask


def shade_lining(colors: np.ndarray, faces: np.ndarray, lining: np.ndarray, color: tuple[float, ...]) -> None:
    """Tint the lining's vertices, fading in over two edges from the lip seam so the lips keep skin tone."""
    if not lining.any():
        return
    inner_v = np.unique(faces[lining])
    seam = np.intersect1d(inner_v, np.unique(faces[~lining]))
    count = len(colors)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(count, count))
    hops = csgraph.dijkstra(graph, directed=False, unweighted=True, indices=seam, min_only=True)[inner_v]
    amount = np.clip(hops / 2.0, 0.0, 1.0)[:, None]
    colors[inner_v] = (1.0 - amount) * colors[inner_v] + amount * np.asarray(color)


def rigid_fit(points: np.ndarray, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation R and translation t with moved ~ points @ R.T + t (Kabsch)."""
    pc, mc = points.mean(0), moved.mean(0)
    u, _, vt = np.linalg.svd((points - pc).T @ (moved - mc))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, mc - r @ pc


def ensure_jaw_followers(offsets: dict[str, np.ndarray], vertices: np.ndarray, followers: np.ndarray,
                         teeth: np.ndarray, jaw_skin: np.ndarray) -> list[str]:
    """Make the lower teeth and tongue follow the jaw targets; returns the targets that needed it.

    A target "leaves them behind" when the lower teeth move less than half as
    much as the jaw's skin; their motion is then the rigid motion best fitting
    the jaw-weighted skin's offsets. (The shipped face units never need this.)
    """
    fixed = []
    for name in JAW_TARGETS:
        off = offsets[name]
        skin_motion = np.linalg.norm(off[jaw_skin], axis=1).mean()
        if skin_motion < 1e-9 or np.linalg.norm(off[teeth], axis=1).mean() >= 0.5 * skin_motion:
            continue
        r, t = rigid_fit(vertices[jaw_skin], vertices[jaw_skin] + off[jaw_skin])
        off[followers] = vertices[followers] @ r.T + t - vertices[followers]
        fixed.append(name)
    return fixed


def first_hits(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rays from ``points`` along +Z: distance to the first triangle hit, its index (-1 if none), and whether
    the ray meets it from behind (leaving the tissue through an outward-facing skin).

    Only (ray, triangle) pairs whose XY bounding boxes overlap are intersected (Moller-Trumbore).
    """
    lo, hi = triangles.min(axis=1), triangles.max(axis=1)
    x, y, z = (points[:, k : k + 1] for k in range(3))
    overlap = (x >= lo[:, 0]) & (x <= hi[:, 0]) & (y >= lo[:, 1]) & (y <= hi[:, 1]) & (z < hi[:, 2])
    ray, tri = np.nonzero(overlap)
    v0, e1, e2 = triangles[tri, 0], triangles[tri, 1] - triangles[tri, 0], triangles[tri, 2] - triangles[tri, 0]
    pvec = np.stack([-e2[:, 1], e2[:, 0], np.zeros(len(tri))], axis=1)  # (0, 0, 1) x e2
    det = np.einsum("ij,ij->i", e1, pvec)
    safe = np.where(np.abs(det) > 1e-15, det, np.nan)
    tvec = points[ray] - v0
    with np.errstate(invalid="ignore"):
        u = np.einsum("ij,ij->i", tvec, pvec) / safe
        qvec = np.cross(tvec, e1)
        v = qvec[:, 2] / safe
        t = np.einsum("ij,ij->i", qvec, e2) / safe
        hit = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    dist = np.full(len(points), np.inf)
    first = np.full(len(points), -1)
    ray, tri, t, det = ray[hit], tri[hit], t[hit], det[hit]
    order = np.lexsort((t, ray))  # by ray, nearest first
    ray, tri, t, det = ray[order], tri[order], t[order], det[order]
    lead = np.ones(len(ray), dtype=bool)
    lead[1:] = ray[1:] != ray[:-1]
    dist[ray[lead]] = t[lead]
    first[ray[lead]] = tri[lead]
    behind = np.zeros(len(points), dtype=bool)
    behind[ray[lead]] = det[lead] < 0
    return dist, first, behind


def limit_jaw_followers(offsets: dict[str, np.ndarray], vertices: np.ndarray, followers: np.ndarray,
                        skin: np.ndarray, lining: np.ndarray, margin: float) -> dict[str, float]:
    """Scale each jaw target's teeth/tongue motion so they stay ``margin`` inside the lips; returns the scales.

    A follower "shows" when, looking straight ahead (+Z), the first skin it
    meets is the outer skin (not the mouth lining) seen from inside, closer
    than ``margin``: it sits just under the lip's surface. With the skin at
    the target's full weight, the followers' motion is checked at a few
    scales; if any shows, the largest safe scale is found by bisection.
    """
    # Only the front of the teeth and tongue can reach the lips.
    front = followers[vertices[followers, 2] > vertices[followers, 2].max() - FRONT_DEPTH]
    pts = vertices[front]
    reach = max(float(np.abs(off[followers]).max()) for off in (offsets[n] for n in JAW_TARGETS)) + 10 * margin
    lo, hi = pts.min(axis=0) - reach, pts.max(axis=0) + reach
    near = np.flatnonzero(np.all((vertices[skin] >= lo) & (vertices[skin] <= hi), axis=(1, 2)))
    tris, outer = skin[near], ~lining[near]

    def shows(off: np.ndarray, scale: float) -> bool:
        """At the target's full weight, with the followers' motion scaled by ``scale``."""
        dist, k, from_inside = first_hits(pts + scale * off[front], vertices[tris] + off[tris])
        return bool((from_inside & outer[np.maximum(k, 0)] & (dist < margin)).any())

    scales = {}
    for name in JAW_TARGETS:
        off = offsets[name]
        bad = next((w for w in (0.25, 0.5, 0.75, 1.0) if shows(off, w)), None)
        scale = 1.0
        if bad is not None and not shows(off, 0.0):
            good = bad - 0.25
            for _ in range(7):
                mid = 0.5 * (good + bad)
                good, bad = (good, mid) if shows(off, mid) else (mid, bad)
            scale = good
            off[followers] *= scale  # only the teeth and tongue; the skin keeps its authored motion
        scales[name] = round(scale, 3)
    return scales
