"""Evaluation metrics of generated performances against references (seeds 001, 003, 004), no Qt.

Vertex metrics are measured on a head in millimetres: parameter-space errors mean nothing to an
animator (0.1 of jawOpen is 3 mm on the built-in head, 0.1 of expr07 something else on FLAME).

- ``lve`` (seed 001 after FaceFormer): per frame the *maximum* L2 error over the lip vertices,
  averaged over frames (the same as seed 004's L_max^lip).
- ``lip_mean`` (seed 004's L_mean^lip, seed 003's "mean"): the mean L2 error over lip vertices
  and frames.
- ``fve`` (seed 001): per frame the *mean* L2 error over the face-region vertices, averaged over frames.
- ``face_max`` / ``upper_face_max`` (seed 004): like ``lve`` over the face / upper-face region.

Vertices are taken in the head's own frame (head rotation, neck and gaze zeroed; FLAME's jaw kept):
head pose is sampled stochastically and judged by the pose FID instead. Regions on a rig
(:func:`face_regions`): *face* = skin vertices that the face channels move by at least 5 % of the
largest motion; *lips* = face vertices in a box of 56 x 28 mm (x by y) around the mouth, which is
found from the inner-lip landmarks of ``engine.metrics`` (or, on a mesh with no lip slit, the
band where jaw opening fades); *upper face* = face vertices at least 15 mm above the mouth that
the jaw moves by less than 15 % of its largest motion.

Distribution metrics take feature arrays (N, D) so they do not depend on which network made them:
``diversity`` (seed 001: mean distance of random pairs), ``frechet_distance`` (FID; the pose FID of
seed 002 when the features come from the pose feature extractor), ``r_precision`` (seed 001:
top-k text->motion retrieval accuracy in batches of 32 by Euclidean distance) and
``matching_score``. ``emotion_fidelity`` compares a classifier's verdict with the requested emotion.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import SpaceError
from mmface_studio.engine import metrics as lipsync
from mmface_studio.engine.request import EMOTIONS

#: Face region: share of the largest per-vertex motion of the face channels.
FACE_MOTION_SHARE = 0.05
#: Lip box half sizes (metres, x and y) around the mouth centre, and how far behind it (z) it reaches.
LIP_HALF_WIDTH_M, LIP_HALF_HEIGHT_M, LIP_DEPTH_M = 0.028, 0.014, 0.02
#: Upper face: at least this far above the mouth, moved by the jaw less than this share.
UPPER_FACE_ABOVE_MOUTH_M, UPPER_FACE_JAW_SHARE = 0.015, 0.15
#: How far the jaw opener turns FLAME's jaw (radians) where the built-in head uses jawOpen = 1.
FLAME_JAW_OPEN_RAD = 0.35
#: Channel groups zeroed for vertex metrics (head rotation, neck, eye gaze).
POSE_GROUPS = ("head pose", "neck", "eye gaze")


# --- regions on a rig --------------------------------------------------------------------------------


class _JawOpenerView:
    """A rig seen through ``engine.metrics``' eyes: ``params({"jawOpen": 1})`` opens FLAME's jaw.

    The lip-landmark search and the lip gap of ``engine.metrics`` are written for ARKit-space rigs;
    this view lets them run on a FLAME rig without a second copy of that code.
    """

    def __init__(self, rig: Any) -> None:
        self.rig, self.name, self.space, self.parts = rig, rig.name, rig.space, rig.parts
        self.blendshape_names: tuple[str, ...] = ()  # jaw is a rotation: deform every frame

    @property
    def vertex_count(self) -> int:
        return int(self.rig.vertex_count)

    def deform(self, params: Any) -> np.ndarray:
        return self.rig.deform(params)

    def params(self, values: dict[str, float] | None = None) -> np.ndarray:
        v = dict(values or {})
        if "jawOpen" in v:
            v["jaw_x"] = FLAME_JAW_OPEN_RAD * v.pop("jawOpen")
        return self.rig.params(v)


_VIEWS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_REGIONS: weakref.WeakKeyDictionary[Any, FaceRegions] = weakref.WeakKeyDictionary()


def lip_rig(rig: Any) -> Any:
    """``rig`` itself when it has ``jawOpen``; a view that maps it onto FLAME's jaw otherwise."""
    if "jawOpen" in rig.space.index:
        return rig
    if "jaw_x" not in rig.space.index:
        raise SpaceError(f"{rig.name}: no jawOpen or jaw_x channel; lip metrics need a jaw.")
    view = _VIEWS.get(rig)
    if view is None:
        view = _VIEWS[rig] = _JawOpenerView(rig)
    return view


@dataclass(frozen=True)
class FaceRegions:
    """Vertex index sets of a rig (see the module docstring) and the mouth centre (metres)."""

    lips: np.ndarray
    face: np.ndarray
    upper_face: np.ndarray
    mouth: np.ndarray
    mouth_method: str  # "landmarks" (inner-lip contact) or "jaw band" (meshes without a lip slit)


def _skin(rig: Any) -> np.ndarray:
    for part in getattr(rig, "parts", ()):
        if part.name == "skin":
            return np.unique(part.faces)
    return np.arange(rig.vertex_count)


def _mouth_centre(rig: Any, rest: np.ndarray, opener: np.ndarray, skin: np.ndarray) -> tuple[np.ndarray, str]:
    try:
        with warnings.catch_warnings():  # the landmark search averages empty columns on slit-less meshes
            warnings.simplefilter("ignore", RuntimeWarning)
            marks = lipsync.lip_landmarks(lip_rig(rig))
        return rest[marks.vertices].mean(axis=0), "landmarks"
    except ValueError:
        pass
    # No slit: the mouth is where the jaw's pull fades from full to none, in front, on the midline:
    # the front midline vertices the jaw moves about half as much as its largest motion.
    centre_x = 0.5 * (rest[skin, 0].min() + rest[skin, 0].max())
    front = skin[(np.abs(rest[skin, 0] - centre_x) < 0.012) & (rest[skin, 2] > rest[skin, 2].max() - 0.03)]
    off = np.abs(opener[front] / max(opener.max(), 1e-12) - 0.5)
    if front.size == 0 or off.min() > 0.4:
        raise ValueError(f"{rig.name}: cannot find the mouth (the jaw moves nothing in front of the face)")
    return rest[front[off <= off.min() + 0.1]].mean(axis=0), "jaw band"


def face_regions(rig: Any) -> FaceRegions:
    """Lip, face and upper-face vertices of ``rig`` (cached per rig object)."""
    found = _REGIONS.get(rig)
    if found is not None:
        return found
    view = lip_rig(rig)
    rest = rig.deform(rig.params()).astype(np.float64)
    opener = np.linalg.norm(view.deform(view.params({"jawOpen": 1.0})) - rest, axis=1)
    deltas = np.asarray(rig.blendshape_deltas(), np.float64)
    motion = np.maximum(np.linalg.norm(deltas, axis=2).max(axis=0) if deltas.size else 0.0, opener)
    skin = _skin(rig)
    face = skin[motion[skin] >= FACE_MOTION_SHARE * motion[skin].max()]
    mouth, method = _mouth_centre(rig, rest, opener, skin)
    rel = rest[face] - mouth
    lips = face[(np.abs(rel[:, 0]) <= LIP_HALF_WIDTH_M) & (np.abs(rel[:, 1]) <= LIP_HALF_HEIGHT_M)
                & (rel[:, 2] >= -LIP_DEPTH_M)]
    upper = face[(rel[:, 1] >= UPPER_FACE_ABOVE_MOUTH_M) & (opener[face] < UPPER_FACE_JAW_SHARE * opener.max())]
    if lips.size == 0:
        raise ValueError(f"{rig.name}: no lip vertices around the mouth at {np.round(mouth, 3).tolist()}")
    found = FaceRegions(lips, face, upper, mouth, method)
    _REGIONS[rig] = found
    return found


# --- vertices of a performance ------------------------------------------------------------------------


def _values_in(rig: Any, performance: Performance | np.ndarray, include_pose: bool) -> np.ndarray:
    if isinstance(performance, Performance):
        if performance.space.name != rig.space.name:
            raise SpaceError(f"a {performance.space.name} performance cannot be measured on {rig.name} "
                             f"({rig.space.name}); convert it or pick the matching rig.")
        values = performance.values
    else:
        values = np.asarray(performance, np.float32)
    if values.ndim != 2 or values.shape[0] != len(rig.space):
        raise SpaceError(f"{rig.name} needs {len(rig.space)} x frames values, got {values.shape}.")
    values = values.astype(np.float64, copy=True)
    if not include_pose:
        rows = [i for i, c in enumerate(rig.space.channels) if c.group in POSE_GROUPS]
        values[rows] = 0.0
    return values


def _linear_rows(rig: Any, *values: np.ndarray) -> int:
    """Number of leading blendshape rows when ``values`` only use them (vertices are then linear in
    the values: rest + weights @ deltas); 0 when the rig must deform frame by frame."""
    names = tuple(getattr(rig, "blendshape_names", ()))
    n = len(names)
    if n and tuple(rig.space.names[:n]) == names and not any(v[n:].any() for v in values):
        return n
    return 0


def performance_vertices(rig: Any, performance: Performance | np.ndarray, vertices: np.ndarray | None = None,
                         *, include_pose: bool = False) -> np.ndarray:
    """(T, K, 3) positions (metres) of ``vertices`` (default all) per frame; pose zeroed unless asked.

    Fast path for rigs whose blendshapes lead their space and whose other channels are all zero
    (the built-in head without pose): rest + weights @ deltas for the K vertices only. Otherwise
    the rig deforms every frame.
    """
    values = _values_in(rig, performance, include_pose)
    idx = np.arange(rig.vertex_count) if vertices is None else np.asarray(vertices)
    n = _linear_rows(rig, values)
    if n:
        deltas = np.asarray(rig.blendshape_deltas(), np.float64)[:, idx, :].reshape(n, -1)
        rest = rig.deform(rig.params()).astype(np.float64)[idx].reshape(-1)
        return (rest[None, :] + values[:n].T @ deltas).reshape(values.shape[1], len(idx), 3)
    return np.stack([rig.deform(values[:, f].astype(np.float32))[idx] for f in range(values.shape[1])]).astype(
        np.float64)


def vertex_offsets(rig: Any, generated: np.ndarray, reference: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(T, K, 3) generated minus reference positions (metres), pose zeroed.

    On a linear rig this is (gen - ref) weights @ deltas, one float32 product: about 0.2 s for a
    minute at 30 fps over the built-in head's face, where two sets of positions would cost twice that.
    """
    gen = _values_in(rig, generated, include_pose=False)
    ref = _values_in(rig, reference, include_pose=False)
    n = _linear_rows(rig, gen, ref)
    if n:
        deltas = np.asarray(rig.blendshape_deltas(), np.float32)[:, vertices, :].reshape(n, -1)
        diff = (gen[:n] - ref[:n]).T.astype(np.float32) @ deltas
        return diff.reshape(gen.shape[1], len(vertices), 3)
    return performance_vertices(rig, gen, vertices) - performance_vertices(rig, ref, vertices)


# --- vertex errors ------------------------------------------------------------------------------------


def _distances(pred: np.ndarray, ref: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    p, r = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    if p.shape != r.shape or p.ndim != 3 or p.shape[2] != 3:
        raise ValueError(f"vertex arrays must both be (T, V, 3); got {p.shape} and {r.shape}")
    if idx is not None:
        p, r = p[:, idx], r[:, idx]
    return _norms(p - r)


def _norms(diff: np.ndarray) -> np.ndarray:
    """(T, K) lengths of (T, K, 3) vectors (einsum: several times faster than ``np.linalg.norm`` here)."""
    return np.sqrt(np.einsum("tkc,tkc->tk", diff, diff))


def max_vertex_error(pred: np.ndarray, ref: np.ndarray, vertices: np.ndarray | None = None) -> float:
    """Per frame the largest L2 error over ``vertices``, averaged over frames (LVE on the lip vertices)."""
    return float(_distances(pred, ref, vertices).max(axis=1).mean())


def mean_vertex_error(pred: np.ndarray, ref: np.ndarray, vertices: np.ndarray | None = None) -> float:
    """Per frame the mean L2 error over ``vertices``, averaged over frames (FVE on the face region)."""
    return float(_distances(pred, ref, vertices).mean())


lve = max_vertex_error
fve = mean_vertex_error


@dataclass(frozen=True)
class VertexErrors:
    """Vertex metrics in millimetres (see the module docstring), over ``frames`` frames at ``fps``."""

    lve_mm: float
    lip_mean_mm: float
    fve_mm: float
    face_max_mm: float
    upper_face_max_mm: float
    frames: int
    fps: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def align(generated: Performance, reference: Performance) -> tuple[np.ndarray, np.ndarray, float]:
    """Both performances at the reference's fps and over their common length: (gen values, ref values, fps).

    A generated take at another frame rate is resampled linearly; a longer one is cut (metrics
    compare frame by frame, and a take that runs on has nothing to be compared with).
    """
    from mmface_studio.core.commands_timeline import resample_performance

    if generated.space.name != reference.space.name:
        raise SpaceError(f"cannot compare a {generated.space.name} performance with a {reference.space.name} one.")
    gen = generated if math.isclose(generated.fps, reference.fps) else resample_performance(generated, reference.fps)
    n = min(gen.frame_count, reference.frame_count)
    return gen.values[:, :n], reference.values[:, :n], float(reference.fps)


def vertex_errors(generated: Performance, reference: Performance, rig: Any) -> VertexErrors:
    """LVE, lip mean, FVE, face and upper-face max errors (mm) of ``generated`` against ``reference``."""
    gen, ref, fps = align(generated, reference)
    regions = face_regions(rig)
    idx = regions.face  # lips and upper face are subsets of the face
    pos = {v: i for i, v in enumerate(idx)}
    lips, upper = np.array([pos[v] for v in regions.lips]), np.array([pos[v] for v in regions.upper_face], int)
    d = _norms(vertex_offsets(rig, gen, ref, idx)).astype(np.float64) * 1e3
    return VertexErrors(
        lve_mm=float(d[:, lips].max(axis=1).mean()), lip_mean_mm=float(d[:, lips].mean()),
        fve_mm=float(d.mean()), face_max_mm=float(d.max(axis=1).mean()),
        upper_face_max_mm=float(d[:, upper].max(axis=1).mean()) if upper.size else float("nan"),
        frames=int(gen.shape[1]), fps=fps)


# --- lip-sync quality (engine.metrics) ---------------------------------------------------------------


def lip_gap_mm(rig: Any, performance: Performance | np.ndarray) -> np.ndarray:
    """(T,) lip gap per frame (mm), measured as ``engine.metrics.lip_gap`` does, head pose zeroed."""
    values = _values_in(rig, performance, include_pose=False).astype(np.float32)
    with warnings.catch_warnings():  # the landmark search averages empty columns on slit-less meshes
        warnings.simplefilter("ignore", RuntimeWarning)
        return lipsync.lip_gap(lip_rig(rig), values) * 1e3


def lipsync_quality(performance: Performance, rig: Any,
                    phone_intervals: Iterable[Any] | None = None) -> dict[str, float]:
    """/p b m/ closure rate (NaN without phone intervals or lips), lip-gap and jaw jitter per frame.

    ``phone_intervals``: label/start/end objects or tuples in seconds (``engine.metrics`` format).
    The jaw curve is jawOpen (arkit52) or jaw_x (flame56); jitter is the mean absolute second
    difference per frame, at the performance's own fps.
    """
    out: dict[str, float] = {"closure_rate": float("nan"), "lip_gap_jitter_mm": float("nan")}
    jaw = "jawOpen" if "jawOpen" in performance.space.index else "jaw_x"
    out["jaw_jitter"] = lipsync.jitter(performance.curve(jaw))
    try:
        gaps = lip_gap_mm(rig, performance)
    except ValueError:  # a mesh without a lip slit has no gap to measure
        return out
    out["lip_gap_jitter_mm"] = lipsync.jitter(gaps)
    if phone_intervals is not None:
        out["closure_rate"] = lipsync.closure_rate(gaps * 1e-3, list(phone_intervals), performance.fps)
    return out


# --- distributions: diversity, FID, retrieval --------------------------------------------------------


def _features(x: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, np.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{what} must be (N, D) features, got shape {a.shape}")
    return a


def diversity(features: Any, pairs: int = 300, seed: int = 0) -> float:
    """Seed 001: the mean Euclidean distance between ``pairs`` random pairs of samples' features.

    With fewer distinct pairs than ``pairs`` every pair is used once (exact, no sampling noise).
    """
    f = _features(features, "diversity features")
    n = f.shape[0]
    if n < 2:
        return 0.0
    if n * (n - 1) // 2 <= pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, pairs)
        j = (i + rng.integers(1, n, pairs)) % n  # j != i
    return float(np.linalg.norm(f[i] - f[j], axis=1).mean())


def gaussian_fit(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of (N, D) features."""
    f = _features(features, "features")
    cov = np.cov(f, rowvar=False) if f.shape[0] > 1 else np.zeros((f.shape[1], f.shape[1]))
    return f.mean(axis=0), np.atleast_2d(cov)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(0.5 * (m + m.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(real: Any, generated: Any) -> float:
    """FID: ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) between Gaussian fits of two feature sets.

    The trace of the matrix square root is taken as the sum of square roots of the eigenvalues of
    S_r^(1/2) S_g S_r^(1/2) (symmetric, positive semi-definite), which stays real and stable even
    when few samples make the covariances singular.
    """
    mu1, s1 = gaussian_fit(real)
    mu2, s2 = gaussian_fit(generated)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature sizes differ: {mu1.shape[0]} and {mu2.shape[0]}")
    root = _sqrt_psd(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0.0, None)).sum()
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * cross)
    return max(value, 0.0)


pose_fid = frechet_distance


def pose_fid_with(extractor: Any, real: Any, generated: Any, batch_size: int = 256) -> float:
    """Pose FID (seed 002) with a feature extractor object: ``extractor.features(tensor) -> (N, D)``.

    ``real`` / ``generated``: whatever batch layout the extractor takes (e.g. (N, T, 3) pose
    sequences), as arrays or tensors; they are fed in batches without gradients.
    """
    import torch

    def feats(x: Any) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
        out = []
        with torch.no_grad():
            for a in range(0, t.shape[0], batch_size):
                chunk = t[a:a + batch_size]
                out.append(torch.as_tensor(extractor.features(chunk)).reshape(len(chunk), -1))
        return torch.cat(out).double().cpu().numpy()

    return frechet_distance(feats(real), feats(generated))


def r_precision(text_embeddings: Any, motion_embeddings: Any, top_k: int = 3, batch_size: int = 32,
                seed: int | None = None) -> np.ndarray:
    """Seed 001: top-1..top-k text->motion retrieval accuracy, ranking by Euclidean distance in batches.

    Row i of both arrays is a matching pair. Within each batch of ``batch_size`` pairs, each text
    ranks the batch's motions by distance; top-k counts the texts whose own motion is among the k
    nearest (ties count in its favour). An incomplete last batch is dropped (as the seed's
    protocol does), unless it is the only one. ``seed``: shuffle the pairs into batches first.
    Chance level is k / batch_size.
    """
    t = _features(text_embeddings, "text embeddings")
    m = _features(motion_embeddings, "motion embeddings")
    if t.shape != m.shape:
        raise ValueError(f"text and motion embeddings must pair up: {t.shape} vs {m.shape}")
    order = np.arange(len(t)) if seed is None else np.random.default_rng(seed).permutation(len(t))
    batches = [order[a:a + batch_size] for a in range(0, len(t) - batch_size + 1, batch_size)] or [order]
    hits = np.zeros(top_k)
    count = 0
    for b in batches:
        d = np.linalg.norm(t[b, None, :] - m[None, b, :], axis=2)
        rank = (d < np.diag(d)[:, None]).sum(axis=1)
        hits += (rank[:, None] < np.arange(1, top_k + 1)[None, :]).sum(axis=0)
        count += len(b)
    return hits / count


def matching_score(a: Any, b: Any) -> float:
    """Seed 001's matching score: the mean Euclidean distance between paired embeddings."""
    x, y = _features(a, "embeddings"), _features(b, "embeddings")
    if x.shape != y.shape:
        raise ValueError(f"embeddings must pair up: {x.shape} vs {y.shape}")
    return float(np.linalg.norm(x - y, axis=1).mean())


# --- emotion fidelity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmotionFidelity:
    """How well a classifier recognises the emotion that was asked for.

    ``accuracy``: share of clips whose predicted emotion (the classifier's top class) is the
    requested dominant emotion (:func:`dominant_emotion`). ``recall``: that share per requested
    emotion (absent when never requested). ``confusion``: counts, rows requested, columns
    predicted. ``intensity_r``: Pearson r, over clips, between the requested intensity of the
    dominant emotion and the classifier's probability for it: does asking for more show more?
    (NaN when either is constant.)
    """

    accuracy: float
    recall: dict[str, float]
    confusion: np.ndarray = field(repr=False)
    intensity_r: float
    clips: int


def dominant_emotion(requested: Any, neutral_below: float = 0.1, names: Sequence[str] = EMOTIONS) -> np.ndarray:
    """(N,) index of the strongest requested emotion; neutral (index 0) when no emotional one reaches
    ``neutral_below`` (gamma_u near zero is a neutral request whatever its largest entry)."""
    r = _features(requested, "requested emotions")
    if r.shape[1] != len(names):
        raise ValueError(f"requested emotions need {len(names)} columns ({', '.join(names)}), got {r.shape[1]}")
    emotional = r[:, 1:]
    best = emotional.argmax(axis=1) + 1
    return np.where(emotional.max(axis=1) >= neutral_below, best, 0)


def clip_emotion(frame_logits: Any, frames: int = 10, seed: int = 0) -> tuple[int, np.ndarray]:
    """Seed 003's per-clip verdict from per-frame classifier logits (T, E): the majority class over
    ``frames`` random frames, and those frames' mean softmax. Ties go to the higher mean probability."""
    z = _features(frame_logits, "frame logits")
    rng = np.random.default_rng(seed)
    picked = z[np.sort(rng.choice(len(z), size=min(frames, len(z)), replace=False))]
    p = np.exp(picked - picked.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    votes = np.bincount(p.argmax(axis=1), minlength=z.shape[1])
    mean = p.mean(axis=0)
    return int(np.lexsort((mean, votes))[-1]), mean


def emotion_fidelity(requested: Any, predicted: Any, *, logits: bool = True, neutral_below: float = 0.1,
                     predicted_class: Any = None, names: Sequence[str] = EMOTIONS) -> EmotionFidelity:
    """Compare per-clip requested intensities (N, E; 0..1, seed 003's order) with a classifier's output
    (N, E; logits, or probabilities with ``logits=False``). ``predicted_class`` (N,) overrides the
    top class, e.g. with :func:`clip_emotion`'s vote. See :class:`EmotionFidelity`."""
    want = dominant_emotion(requested, neutral_below, names)
    p = _features(predicted, "predicted emotions")
    if p.shape != (len(want), len(names)):
        raise ValueError(f"predictions must be ({len(want)}, {len(names)}), got {p.shape}")
    if logits:
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    got = p.argmax(axis=1) if predicted_class is None else np.asarray(predicted_class, np.int64).reshape(-1)
    confusion = np.zeros((len(names), len(names)), np.int64)
    np.add.at(confusion, (want, got), 1)
    recall = {names[k]: float(confusion[k, k] / confusion[k].sum()) for k in range(len(names)) if confusion[k].sum()}
    asked = _features(requested, "requested emotions")[np.arange(len(want)), want]
    shown = p[np.arange(len(want)), want]
    r = float(np.corrcoef(asked, shown)[0, 1]) if asked.std() > 1e-12 and shown.std() > 1e-12 else float("nan")
    return EmotionFidelity(float((got == want).mean()), recall, confusion, r, len(want))
