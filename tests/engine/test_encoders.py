"""Speech and text encoders and the feature cache, on tiny random transformers models built here.

No pretrained speech model can be downloaded, so wav2vec2 / HuBERT / DistilBERT are exercised with
tiny randomly initialised configs saved with ``save_pretrained`` (the loading path is the one real
weights take). MiniLM is the real packaged model.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mmface_studio.audio import compute_features
from mmface_studio.engine.encoders import (
    TEXT_LEVELS,
    DistilBertTextEncoder,
    EncoderError,
    EncoderUnavailable,
    FeatureCache,
    LogMelEncoder,
    MiniLMTextEncoder,
    TransformersSpeechEncoder,
    default_cache_root,
    load_audio_encoder,
    load_text_encoder,
    minilm_model_dir,
    samples_digest,
)

SMALL_CONV = {"conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
              "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _speech(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
            ).astype(np.float32)


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory) -> Path:
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    folder = tmp_path_factory.mktemp("tiny-wav2vec2")
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(**SMALL_CONV)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextEncoder:
    return MiniLMTextEncoder()


# --- speech ---------------------------------------------------------------------------------------


def test_log_mel_encoder_is_the_audio_layers_mel_at_100_hz() -> None:
    enc = LogMelEncoder()
    x = _speech(1.5)
    out = enc.encode(x)
    assert (enc.name, enc.dim, enc.rate) == ("logmel80", 80, 100.0)
    assert out.shape == (150, 80) and out.dtype == np.float32
    assert np.array_equal(out, compute_features(x).mel)
    assert enc.frames_for(1.5) == 150


@pytest.mark.parametrize("bad", [np.zeros((2, 800), np.float32), np.zeros(800, np.int16),
                                 np.array([0.0, np.nan] * 400, np.float32)])
def test_speech_encoders_refuse_what_is_not_mono_float_audio(bad: np.ndarray) -> None:
    with pytest.raises(EncoderError):
        LogMelEncoder().encode(bad)


def test_wav2vec2_from_a_local_folder(wav2vec2_dir: Path) -> None:
    enc = TransformersSpeechEncoder(wav2vec2_dir)
    assert (enc.dim, enc.rate, enc.name) == (32, 50.0, f"wav2vec2:{wav2vec2_dir.name}")
    out = enc.encode(_speech(1.0))
    assert out.shape == (49, 32) and out.dtype == np.float32 and np.isfinite(out).all()
    assert enc.encode(np.zeros(100, np.float32)).shape == (1, 32), "short input is padded to one frame"
    first = TransformersSpeechEncoder(wav2vec2_dir, layer=1)
    assert first.name.endswith("@1") and first.cache_key != enc.cache_key
    assert not np.allclose(first.encode(_speech(1.0)), out)
    with pytest.raises(EncoderError, match="layer 7 does not exist"):
        TransformersSpeechEncoder(wav2vec2_dir, layer=7)


def test_hubert_without_a_preprocessor_config_normalises_its_input(tmp_path: Path) -> None:
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(1)
    HubertModel(HubertConfig(**SMALL_CONV)).save_pretrained(tmp_path)
    enc = load_audio_encoder(tmp_path)
    assert isinstance(enc, TransformersSpeechEncoder) and enc.model_type == "hubert"
    assert "normalised" in enc.normalise_note
    x = _speech(0.5)
    assert np.allclose(enc.encode(x), enc.encode(3.0 * x), atol=1e-4), "zero-mean unit-variance input"


def test_a_hub_name_that_is_not_cached_says_to_pass_a_local_folder() -> None:
    with pytest.raises(EncoderUnavailable) as err:
        TransformersSpeechEncoder("facebook/wav2vec2-base-960h")
    assert "'facebook/wav2vec2-base-960h'" in str(err.value) and "local folder" in str(err.value)
    with pytest.raises(EncoderUnavailable, match="is not a folder"):
        TransformersSpeechEncoder("./no/such/model")


def test_speech_encoder_refuses_a_text_model() -> None:
    with pytest.raises(EncoderError, match="'bert' model"):
        TransformersSpeechEncoder(minilm_model_dir())


def test_load_audio_encoder_understands_encoder_names(wav2vec2_dir: Path) -> None:
    assert isinstance(load_audio_encoder(None), LogMelEncoder)
    assert isinstance(load_audio_encoder("logmel80"), LogMelEncoder)
    enc = load_audio_encoder(f"wav2vec2:{wav2vec2_dir}@2")
    assert enc.layer == 2


# --- text -----------------------------------------------------------------------------------------


def test_minilm_gives_tokens_mask_and_a_unit_sentence_vector(minilm: MiniLMTextEncoder) -> None:
    enc = minilm.encode("The speaker yawns, then smiles.")
    length = enc.mask.shape[1]
    assert enc.tokens.shape == (1, length, 384) and enc.mask.dtype == torch.bool and bool(enc.mask.all())
    assert enc.sentence.shape == (1, 384) and torch.allclose(enc.sentence.norm(dim=-1), torch.ones(1), atol=1e-5)
    a, b, c = minilm.encode(["a woman smiles happily", "a happy woman is smiling", "the stock market fell"]).sentence
    assert float(a @ b) > float(a @ c) + 0.2, "paraphrases lie closer than unrelated text"


def test_padding_does_not_change_a_texts_embedding(minilm: MiniLMTextEncoder) -> None:
    short, long = "nods", "slowly raises both eyebrows and tilts the head to the left while talking"
    alone = minilm.encode(short)
    batch = minilm.encode([short, long])
    n = alone.mask.shape[1]
    assert batch.mask[0].sum() == n and not batch.mask[0, n:].any()
    assert torch.allclose(batch.tokens[0, :n], alone.tokens[0], atol=1e-4)
    assert torch.allclose(batch.sentence[0], alone.sentence[0], atol=1e-5)


def test_hierarchical_levels_are_encoded_one_by_one(minilm: MiniLMTextEncoder) -> None:
    levels = {"action": "talking", "emotion": "happy and relaxed", "head_pose": "nods twice"}
    out = minilm.encode_hierarchical(levels)
    assert tuple(out) == TEXT_LEVELS
    for level, (tokens, mask) in out.items():
        assert tokens.shape[:2] == mask.shape and tokens.shape[0] == 1 and tokens.shape[2] == 384
        assert bool(mask.all())
        if level in levels:
            assert torch.allclose(tokens, minilm.encode(levels[level]).tokens, atol=1e-4)
    assert out["scenario"][0].shape[1] == 2, "a missing level is [CLS] [SEP]"
    with pytest.raises(EncoderError, match="headpose"):
        minilm.encode_hierarchical({"headpose": "nods"})


def test_distilbert_from_a_local_folder(tmp_path: Path) -> None:
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizer

    torch.manual_seed(0)
    DistilBertModel(DistilBertConfig(vocab_size=30522, dim=32, n_layers=1, n_heads=2, hidden_dim=64)).save_pretrained(
        tmp_path)
    # DistilBERT uses BERT's uncased WordPiece vocabulary, which MiniLM ships: an offline tokenizer.
    DistilBertTokenizer(vocab_file=str(minilm_model_dir() / "vocab.txt")).save_pretrained(tmp_path)
    enc = load_text_encoder(tmp_path)
    assert isinstance(enc, DistilBertTextEncoder) and enc.dim == 32
    out = enc.encode(["frowns", "opens the mouth wide"])
    assert out.tokens.shape[0] == 2 and out.tokens.shape[2] == 32 and out.mask[0].sum() < out.mask[1].sum()
    assert set(enc.encode_hierarchical({"action": "talking"})) == set(TEXT_LEVELS)
    with pytest.raises(EncoderError, match="not distilbert"):
        DistilBertTextEncoder(minilm_model_dir())


# --- cache ----------------------------------------------------------------------------------------


class _Counting(LogMelEncoder):
    def __init__(self, tag: str = "") -> None:
        super().__init__()
        self.calls, self.tag = 0, tag

    @property
    def cache_key(self) -> str:
        return super().cache_key + self.tag

    def encode(self, samples_16k: np.ndarray) -> np.ndarray:
        self.calls += 1
        return super().encode(samples_16k)


def test_cache_hits_skip_the_encoder_and_keys_separate_encoders(tmp_path: Path) -> None:
    cache, enc, other = FeatureCache(tmp_path), _Counting(), _Counting("/other")
    x = _speech(1.0)
    first = cache.features(enc, x)
    again = cache.features(enc, x)
    assert enc.calls == 1 and (cache.hits, cache.misses) == (1, 1) and np.array_equal(first, again)
    cache.features(other, x)
    assert other.calls == 1, "another encoder config is another entry"
    cache.features(enc, _speech(1.0, seed=5))
    assert enc.calls == 2, "other content is another entry"
    stored = cache.path_for(enc, samples_digest(x))
    assert stored.suffix == ".npy" and np.array_equal(np.load(stored, allow_pickle=False), first)
    assert not list(tmp_path.rglob("*.part")), "no temp files left behind"


def test_a_damaged_entry_is_recomputed(tmp_path: Path) -> None:
    cache, enc = FeatureCache(tmp_path), _Counting()
    x = _speech(0.5)
    cache.features(enc, x)
    cache.path_for(enc, samples_digest(x)).write_bytes(b"\x93NUMPY garbage")
    assert np.array_equal(cache.features(enc, x), compute_features(x).mel) and enc.calls == 2


def test_the_size_cap_evicts_the_least_recently_used(tmp_path: Path) -> None:
    enc = _Counting()
    clips = [_speech(1.0, seed=s) for s in range(3)]
    entry = 100 * 80 * 4 + 128
    cache = FeatureCache(tmp_path, max_bytes=2 * entry + 10)
    cache.features(enc, clips[0])
    cache.features(enc, clips[1])
    old = cache.path_for(enc, samples_digest(clips[0]))
    os.utime(old, (1, 1))  # clip 0 last used long ago
    cache.features(enc, clips[2])
    assert not old.exists() and cache.size_bytes() <= cache.max_bytes
    assert cache.path_for(enc, samples_digest(clips[2])).exists()
    assert cache.clear() > 0 and cache.size_bytes() == 0


def test_file_features_are_keyed_by_the_files_bytes(tmp_path: Path) -> None:
    wav = tmp_path / "take.wav"
    sf.write(wav, _speech(1.0), 16000, subtype="FLOAT")
    cache, enc = FeatureCache(tmp_path / "cache"), _Counting()
    a = cache.features_for_file(enc, wav)
    b = cache.features_for_file(enc, wav)
    assert enc.calls == 1 and a.shape == (100, 80) and np.array_equal(a, b)


def test_the_default_cache_lives_in_the_user_cache_dir() -> None:
    root = default_cache_root()
    assert str(root).startswith(os.environ["XDG_CACHE_HOME"]) and "mmface-studio" in str(root)
