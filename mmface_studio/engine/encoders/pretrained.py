"""Finding and loading published transformers weights without ever touching the network.

Why a module of its own: the speech and the text encoders resolve their sources the same way and
must fail the same way. Nothing is downloaded here (the product runs offline and a silent
multi-hundred-megabyte download in the middle of a generation would be worse than an error), so a
source is either a local folder or a hub name already in the Hugging Face cache; anything else is
an :class:`EncoderUnavailable` whose message names the source and says what to pass instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Weight and config files whose size/mtime fingerprint a local model (see :func:`fingerprint`).
_MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "preprocessor_config.json", "tokenizer.json", "vocab.txt")


class EncoderError(Exception):
    """An encoder got input it cannot encode, or a model folder is not what the encoder needs."""


class EncoderUnavailable(EncoderError):
    """The weights an encoder needs are not on this machine (or cannot be read)."""


def looks_like_path(source: str | os.PathLike[str]) -> bool:
    """True when ``source`` is meant as a file-system path rather than a hub name like ``facebook/hubert-base``."""
    text = os.fspath(source)
    return (isinstance(source, os.PathLike) or text.startswith((".", "~", "/")) or "\\" in text
            or text.count("/") > 1 or Path(text).expanduser().exists())


def resolve_source(source: str | os.PathLike[str], what: str) -> Path:
    """The local folder to load ``source`` from: the folder itself, or a hub name's snapshot in the local
    Hugging Face cache. Anything else is an :class:`EncoderUnavailable` naming ``what`` and ``source``."""
    text = os.fspath(source)
    if looks_like_path(source):
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise EncoderUnavailable(f"{what}: {folder} is not a folder. Pass the folder that holds the model's "
                                     "config.json and weights (e.g. a save_pretrained copy).")
        if not (folder / "config.json").is_file():
            raise EncoderUnavailable(f"{what}: {folder} has no config.json; it does not look like a transformers "
                                     "model folder.")
        return folder
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(text, "config.json")
    except ValueError as exc:  # HFValidationError: not even a valid hub name
        raise unavailable(text, what, exc) from None
    if not isinstance(cached, str):
        raise unavailable(text, what, None)
    return Path(cached).parent


def unavailable(source: str, what: str, exc: BaseException | None) -> EncoderUnavailable:
    """The error for a hub name that is not cached locally (or a folder transformers cannot read)."""
    if looks_like_path(source):
        return EncoderUnavailable(f"{what}: could not load the model in {source} ({exc}).")
    return EncoderUnavailable(
        f"{what}: '{source}' is not a local folder and is not in the Hugging Face cache on this machine, and "
        "MMFace Studio never downloads models. Pass the path of a local folder holding the model "
        f"(config.json + weights), e.g. one made with save_pretrained from a copy of '{source}'.")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and info logs while loading (they go to a terminal nobody watches)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def fingerprint(folder: str | os.PathLike[str], extra: Any = None) -> str:
    """A short digest of a model folder's files (name, size, mtime) and ``extra``: feature-cache keys change
    when the weights are replaced, without hashing hundreds of megabytes on every start."""
    h = hashlib.blake2b(repr(extra).encode(), digest_size=8)
    root = Path(folder)
    for name in _MODEL_FILES:
        path = root / name
        with contextlib.suppress(OSError):
            st = path.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()
