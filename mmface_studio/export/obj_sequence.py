"""OBJ sequence: one Wavefront OBJ per frame plus one shared MTL, for tools that read mesh caches.

``head.obj`` becomes ``head_0000.obj``, ``head_0001.obj``... numbered by frame (0-based, the same
numbers ``--range`` uses, four digits or more) and ``head.mtl`` with one material per rig part
material. Each OBJ has every vertex (``v``, 6 decimals: 1 micrometre in metres), the rig's UVs
(``vt``), smooth normals of the deformed mesh (``vn``) and the triangles grouped per part with
``usemtl`` (``f v/vt/vn``). The triangle, UV and material text is the same in every frame, so it
is formatted once.

Frames are deformed and written one at a time (a minute at 30 fps is 1800 meshes: never all in
memory) into a hidden staging folder beside the target; only when every frame is written are the
files renamed into place. A cancel or a failure removes the staging folder, so no partial sequence
(and no partial file) ever appears under the final names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio import __version__
from mmface_studio.core.performance import Performance
from mmface_studio.export import (
    ExportOptions,
    ProgressCallback,
    check_cancel,
    check_space,
    export_error,
    part_face_indices,
    report,
    sample_frames,
)
from mmface_studio.rig.base import Rig
from mmface_studio.rig.skinning import vertex_normals

SUFFIXES = (".obj",)


def frame_path(path: str | Path, frame: int, digits: int = 4) -> Path:
    """``dir/head.obj`` + frame 12 -> ``dir/head_0012.obj``."""
    out = Path(path)
    return out.with_name(f"{out.stem}_{frame:0{digits}d}{out.suffix}")


def _mtl_text(rig: Rig) -> str:
    colours = rig.vertex_colors()
    lines = [f"# MMFace Studio {__version__}: materials of {rig.name}"]
    done: set[str] = set()
    for part in rig.parts:
        if part.material in done:
            continue
        done.add(part.material)
        rgb = (0.8, 0.8, 0.8)
        if colours is not None and part.faces.size:
            values, counts = np.unique(np.round(colours[np.unique(part.faces), :3], 3), axis=0, return_counts=True)
            rgb = tuple(float(c) for c in values[int(np.argmax(counts))])
        lines += [f"newmtl {part.material}", "Ka 0 0 0", "Kd {:.4f} {:.4f} {:.4f}".format(*rgb),
                  "Ks 0.1 0.1 0.1", "Ns 40", "d 1", "illum 2", ""]
    return "\n".join(lines)


def _static_text(rig: Rig) -> tuple[str, str]:
    """(``vt`` block, grouped ``f`` block): identical in every frame."""
    has_uv = rig.uvs is not None and rig.face_uvs is not None
    uv_block = ""
    if has_uv:
        uv_block = ("vt %.6f %.6f\n" * len(rig.uvs)) % tuple(rig.uvs.astype(np.float64).ravel())
    blocks = []
    for part, ids in zip(rig.parts, part_face_indices(rig), strict=True):
        if part.faces.size == 0:
            continue
        v = part.faces.astype(np.int64) + 1
        if has_uv:
            t = rig.face_uvs[ids].astype(np.int64) + 1
            corners = np.stack([v, t, v], axis=2).reshape(-1)
            body = ("f %d/%d/%d %d/%d/%d %d/%d/%d\n" * len(v)) % tuple(corners)
        else:
            corners = np.stack([v, v], axis=2).reshape(-1)
            body = ("f %d//%d %d//%d %d//%d\n" * len(v)) % tuple(corners)
        blocks.append(f"g {part.name}\nusemtl {part.material}\n{body}")
    return uv_block, "".join(blocks)


def _frame_text(vertices: np.ndarray, normals: np.ndarray, header: str, uv_block: str, face_block: str) -> bytes:
    v = ("v %.6f %.6f %.6f\n" * len(vertices)) % tuple(vertices.ravel())
    vn = ("vn %.5f %.5f %.5f\n" * len(normals)) % tuple(normals.ravel())
    return (header + v + uv_block + vn + face_block).encode("ascii")


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_to_file(performance: Performance, rig: Rig, path: str | Path,
                  options: ExportOptions | Mapping[str, Any] | None = None,
                  progress: ProgressCallback | None = None, cancel: Any = None) -> Path:
    """Write the sequence for ``path`` (``head.obj`` -> ``head_0000.obj``...); returns the first frame's file."""
    out = Path(path)
    if out.suffix.lower() != ".obj":
        raise export_error(f"OBJ sequences are named like head.obj, not '{out.name}'.")
    opts = ExportOptions.coerce(options)
    check_space(performance, rig)
    sampled = sample_frames(performance, opts)
    digits = max(4, len(str(int(sampled.frames[-1]))))
    mtl_name = out.with_suffix(".mtl").name
    uv_block, face_block = _static_text(rig)
    faces = rig.faces.astype(np.int64)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", suffix=".part", dir=out.parent))
    except OSError as exc:
        raise export_error(f"Could not write {out.parent / mtl_name}: {exc.strerror or exc}.") from None
    try:
        names = [frame_path(out, int(f), digits).name for f in sampled.frames]
        _write_file(staging / mtl_name, _mtl_text(rig).encode("utf-8"))
        # Formatting holds the GIL, write + fsync do not: one writer thread overlaps them (at most two
        # frames wait in memory).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="obj-writer") as writer:
            pending: deque[Future] = deque()
            for i, frame in enumerate(sampled.frames):
                check_cancel(cancel)
                report(progress, i / len(sampled), f"frame {int(frame)}")
                deformed = rig.deform(sampled.values[:, i])
                normals = vertex_normals(deformed, faces)
                header = (f"# MMFace Studio {__version__}: {rig.name}, frame {int(frame)} at {sampled.fps:g} fps "
                          f"(t = {frame / sampled.fps:.4f} s)\nmtllib {mtl_name}\no head\n")
                data = _frame_text(opts.points(deformed), opts.directions(normals), header, uv_block, face_block)
                while len(pending) >= 2:
                    pending.popleft().result()
                pending.append(writer.submit(_write_file, staging / names[i], data))
            while pending:
                pending.popleft().result()
        check_cancel(cancel)
        for name in [mtl_name, *names]:
            os.replace(staging / name, out.parent / name)
    except OSError as exc:
        raise export_error(f"Could not write the OBJ sequence {out.parent / names[0]}...: "
                           f"{exc.strerror or exc}.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(progress, 1.0, "done")
    return out.parent / names[0]
