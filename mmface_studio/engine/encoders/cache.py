"""On-disk cache of speech features, per audio content and encoder.

Why: a wav2vec2 pass over a minute of speech costs seconds on a CPU, and the same clip is encoded
again and again (every generation, every training epoch). Entries are keyed by a digest of the
samples (or of the file's bytes) and by the encoder's ``cache_key`` (kind, layer, weights
fingerprint), so a changed clip or a replaced model never gets stale features.

Layout: ``<user cache dir>/features/<encoder name>-<key digest>/<content digest>.npy``. Files are
plain ``.npy`` written atomically (temp file, fsync, rename: a crash never leaves half an entry
under the final name) and read with ``allow_pickle=False``; a damaged or mismatched entry is
deleted and recomputed. The total size is capped: after a write, least recently used entries
(by modification time, refreshed on every hit) are removed until the cache fits.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mmface_studio.core.atomic import atomic_write
from mmface_studio.engine.encoders.audio import AudioEncoder, as_samples

APP_NAME = "mmface-studio"
DEFAULT_MAX_BYTES = 2 * 2**30
_DIGEST_CHUNK = 1 << 20


def default_cache_root() -> Path:
    """``<user cache dir>/features`` (platformdirs; tests point XDG_CACHE_HOME elsewhere)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "features"


def samples_digest(samples: Any) -> str:
    """Content digest of 16 kHz samples (an ``AudioClip``'s analysis copy or an array)."""
    x = as_samples(samples)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"f32:{x.size};".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """Content digest of a file's bytes: lets a hit skip decoding the audio altogether."""
    h = hashlib.blake2b(digest_size=16)
    h.update(b"file;")
    with open(path, "rb") as handle:
        while chunk := handle.read(_DIGEST_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _folder_name(encoder: AudioEncoder) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.name)[:48]
    key = hashlib.blake2b(encoder.cache_key.encode(), digest_size=6).hexdigest()
    return f"{slug}-{key}"


class FeatureCache:
    """Features per (content digest, encoder); see the module docstring. Thread-safe within a process;
    processes sharing the folder are safe too (atomic renames; a lost race costs one recomputation)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else default_cache_root()
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk, scanned once, then kept up to date

    # --- lookup ---------------------------------------------------------------------------------

    def path_for(self, encoder: AudioEncoder, digest: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{8,128}", digest):
            raise ValueError(f"not a content digest: {digest!r}")
        return self.root / _folder_name(encoder) / f"{digest}.npy"

    def get(self, encoder: AudioEncoder, digest: str) -> np.ndarray | None:
        """The cached features, or None (a damaged entry is removed)."""
        path = self.path_for(encoder, digest)
        try:
            with open(path, "rb") as handle:
                features = np.load(handle, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            self._remove(path)
            return None
        if features.ndim != 2 or features.shape[1] != encoder.dim or features.dtype != np.float32:
            self._remove(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: last to be evicted
        return features

    def put(self, encoder: AudioEncoder, digest: str, features: np.ndarray) -> Path:
        """Store features (atomically) and evict old entries beyond ``max_bytes``."""
        array = np.ascontiguousarray(features, dtype=np.float32)
        if array.ndim != 2:
            raise ValueError(f"features must be (T, dim), got shape {array.shape}")
        path = self.path_for(encoder, digest)
        old = path.stat().st_size if path.exists() else 0
        atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))
        size = path.stat().st_size
        with self._lock:
            if self._total is not None:
                self._total += size - old
        if self.size_bytes() > self.max_bytes:
            self.prune(keep=path)
        return path

    # --- the usual entry points -----------------------------------------------------------------

    def features(self, encoder: AudioEncoder, samples: Any, *, digest: str | None = None) -> np.ndarray:
        """``encoder.encode(samples)``, from the cache when this content was encoded before."""
        key = digest or samples_digest(samples)
        found = self.get(encoder, key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        features = np.ascontiguousarray(encoder.encode(samples), dtype=np.float32)
        self.put(encoder, key, features)
        return features

    def features_for_file(self, encoder: AudioEncoder, path: str | os.PathLike[str]) -> np.ndarray:
        """Features of an audio file, keyed by the file's bytes: a hit neither decodes nor resamples."""
        key = file_digest(path)
        found = self.get(encoder, key)
        if found is not None:
            self.hits += 1
            return found
        from mmface_studio.audio import load_audio

        self.misses += 1
        features = np.ascontiguousarray(encoder.encode(load_audio(path)), dtype=np.float32)
        self.put(encoder, key, features)
        return features

    # --- size management ------------------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        if not self.root.is_dir():
            return out
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for item in folder.iterdir():
                if item.suffix == ".npy":
                    with contextlib.suppress(OSError):
                        st = item.stat()
                        out.append((st.st_mtime, st.st_size, item))
        return out

    def size_bytes(self) -> int:
        """Bytes of all entries (scanned once per cache object, then tracked)."""
        with self._lock:
            if self._total is None:
                self._total = sum(size for _, size, _ in self._entries())
            return self._total

    def prune(self, max_bytes: int | None = None, *, keep: Path | None = None) -> int:
        """Remove least recently used entries until the total is at most ``max_bytes``; bytes freed."""
        limit = self.max_bytes if max_bytes is None else int(max_bytes)
        with self._lock:
            entries = sorted(self._entries(), key=lambda e: e[0])
            total = sum(size for _, size, _ in entries)
            freed = 0
            for _, size, path in entries:
                if total - freed <= limit:
                    break
                if keep is not None and path == keep:
                    continue
                with contextlib.suppress(OSError):
                    path.unlink()
                    freed += size
            self._total = total - freed
        return freed

    def clear(self) -> int:
        """Remove every entry; bytes freed."""
        return self.prune(0)

    def _remove(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            with self._lock:
                if self._total is not None:
                    self._total -= size
