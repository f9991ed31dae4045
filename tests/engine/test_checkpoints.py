"""Checkpoints: safetensors + JSON round trips, strict loading with clear errors, pickles refused, the registry.

The model families are being written elsewhere, so the tests register tiny families of their own.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mmface_studio.engine.checkpoints import (
    FORMAT_VERSION,
    CheckpointError,
    CheckpointRegistry,
    UnsafeCheckpointError,
    load_checkpoint,
    read_checkpoint_info,
    repo_models_dir,
    save_checkpoint,
    user_models_dir,
)
from mmface_studio.engine.models.base import FamilyModel, face_dim, register_family
from mmface_studio.rig.flame.synthetic import write_malicious_pickle

REPO = Path(__file__).resolve().parents[2]
META = {"fps": 30.0, "feature_type": "logmel80", "training_data": "synthetic corpus v0 (test)",
        "metrics": {"lve_mm": 1.25}, "notes": "tiny"}


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass(frozen=True)
class TinyConfig:
    space: str = "arkit52"
    hidden: int = 8


@register_family
class TinyModel(FamilyModel):
    family = "test-tiny"
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.inp = nn.Linear(4, config.hidden)
        self.norm = nn.BatchNorm1d(config.hidden)
        self.out = nn.Linear(config.hidden, face_dim(config.space))


@register_family
class TiedModel(FamilyModel):
    family = "test-tied"
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.embed = nn.Embedding(10, config.hidden)
        self.head = nn.Linear(config.hidden, 10, bias=False)
        self.head.weight = self.embed.weight


def _tiny(seed: int = 0, **config) -> TinyModel:
    torch.manual_seed(seed)
    model = TinyModel(TinyConfig(**config))
    model.norm.running_mean.uniform_()  # buffers travel too
    return model


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _edit_json(stem: Path, **changes) -> None:
    meta = stem.parent / (stem.name + ".json")
    doc = json.loads(meta.read_text())
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    meta.write_text(json.dumps(doc))


def test_round_trip_keeps_weights_and_metadata(tmp_path: Path) -> None:
    model = _tiny(space="flame56", hidden=6)
    saved = save_checkpoint(model, tmp_path / "lipsync.v2", metadata=META)
    assert saved.path == tmp_path / "lipsync.v2.safetensors" and (tmp_path / "lipsync.v2.json").is_file()
    for spelling in ("lipsync.v2", "lipsync.v2.json", "lipsync.v2.safetensors"):
        loaded, info = load_checkpoint(tmp_path / spelling)
        assert isinstance(loaded, TinyModel) and not loaded.training and _same_weights(loaded, model)
    assert loaded.config == TinyConfig(space="flame56", hidden=6)
    assert (info.name, info.family, info.space, info.fps, info.feature_type) == (
        "lipsync.v2", "test-tiny", "flame56", 30.0, "logmel80")
    assert info.training_data == META["training_data"] and info.metrics == {"lve_mm": 1.25}
    assert info.extra["notes"] == "tiny" and info.format_version == FORMAT_VERSION and info.created
    assert info.parameter_count == model.parameter_count() and info.size_bytes > 0
    assert "lipsync.v2: test-tiny (flame56" in info.summary()
    doc = json.loads((tmp_path / "lipsync.v2.json").read_text())
    assert doc["config"] == {"space": "flame56", "hidden": 6} and len(doc["weights_sha256"]) == 64
    assert set(load_file(str(saved.path))) == set(model.state_dict())


def test_tied_weights_are_stored_once_and_tied_again(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = TiedModel(TinyConfig())
    save_checkpoint(model, tmp_path / "tied", metadata=META)
    assert list(load_file(str(tmp_path / "tied.safetensors"))) == ["embed.weight"]
    loaded, _ = load_checkpoint(tmp_path / "tied")
    assert torch.equal(loaded.head.weight, model.embed.weight)


def test_model_card_and_device(tmp_path: Path) -> None:
    save_checkpoint(_tiny(), tmp_path / "carded", metadata=META)
    (tmp_path / "carded.md").write_text("# Carded\nTrained on nothing at all.\n")
    model, info = load_checkpoint(tmp_path / "carded", device="cpu")
    assert "Trained on nothing" in info.card and model.device.type == "cpu"


def test_metadata_must_say_fps_and_features(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="fps, feature_type"):
        save_checkpoint(_tiny(), tmp_path / "x", metadata={})
    with pytest.raises(CheckpointError, match="not plain JSON"):
        save_checkpoint(_tiny(), tmp_path / "x", metadata=META | {"metrics": {"lve": float("nan")}})


@pytest.mark.parametrize(("change", "message"), [
    ({"family": "no-such-family"}, "unknown model family 'no-such-family'"),
    ({"format_version": FORMAT_VERSION + 1}, "newer MMFace Studio"),
    ({"format": "something-else"}, "not an MMFace Studio checkpoint"),
    ({"config": {"space": "arkit52", "hidden": 8, "depth": 3}}, "depth"),
    ({"config": {"space": "arkit52", "hidden": 16}}, r"shape mismatch: .*inp.weight \(file \(8, 4\), model \(16, 4"),
    ({"fps": None}, "'fps' is missing"),
])
def test_bad_descriptions_are_refused_clearly(tmp_path: Path, change: dict, message: str) -> None:
    save_checkpoint(_tiny(), tmp_path / "m", metadata=META)
    _edit_json(tmp_path / "m", **change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "m")


def test_broken_json_and_missing_files(tmp_path: Path) -> None:
    save_checkpoint(_tiny(), tmp_path / "m", metadata=META)
    (tmp_path / "m.json").write_text('{"format": "mmface-checkpoint",')
    with pytest.raises(CheckpointError, match=r"m.json is not valid JSON \(line 1"):
        load_checkpoint(tmp_path / "m")
    save_checkpoint(_tiny(), tmp_path / "n", metadata=META)
    (tmp_path / "n.safetensors").unlink()
    with pytest.raises(CheckpointError, match="n.safetensors is missing"):
        load_checkpoint(tmp_path / "n")
    with pytest.raises(CheckpointError, match="o.json is missing"):
        load_checkpoint(tmp_path / "o.safetensors")


def test_weights_changed_after_saving_are_caught(tmp_path: Path) -> None:
    save_checkpoint(_tiny(), tmp_path / "m", metadata=META)
    save_file(load_file(str(tmp_path / "m.safetensors")) | {}, str(tmp_path / "other.safetensors"),
              metadata={"changed": "yes"})
    os.replace(tmp_path / "other.safetensors", tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="checksum differs"):
        load_checkpoint(tmp_path / "m")


def test_missing_and_unexpected_tensors_are_named(tmp_path: Path) -> None:
    save_checkpoint(_tiny(), tmp_path / "m", metadata=META)
    tensors = load_file(str(tmp_path / "m.safetensors"))
    del tensors["out.bias"]
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, str(tmp_path / "m.safetensors"))
    _edit_json(tmp_path / "m", weights_sha256=None)  # a hand-made description without a checksum
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "m")
    assert "missing tensors: out.bias" in str(err.value) and "unexpected tensors: extra.weight" in str(err.value)


class _Payload:
    """Unpickling this runs ``os.system`` (the classic malicious-checkpoint trick)."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_pickles_are_refused_and_never_run(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    torch.save({"state_dict": _Payload(sentinel)}, tmp_path / "evil.pt")  # zip of pickles, as torch.save writes
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Payload(sentinel), protocol=2))
    write_malicious_pickle(tmp_path / "flame_like.ckpt", sentinel=sentinel)
    assert not sentinel.exists()
    for name in ("evil.pt", "evil.pkl", "flame_like.ckpt"):
        with pytest.raises(UnsafeCheckpointError, match="is a pickle .* cannot be trusted"):
            load_checkpoint(tmp_path / name)
    # The same bytes under innocent names, with a valid description beside them.
    save_checkpoint(_tiny(), tmp_path / "disguised", metadata=META)
    for source in ("evil.pt", "evil.pkl"):
        (tmp_path / "disguised.safetensors").write_bytes((tmp_path / source).read_bytes())
        with pytest.raises(UnsafeCheckpointError, match="cannot be trusted"):
            load_checkpoint(tmp_path / "disguised")
    (tmp_path / "weights.dat").write_bytes((tmp_path / "evil.pt").read_bytes())
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(tmp_path / "weights.dat")
    (tmp_path / "described.json").write_bytes((tmp_path / "evil.pkl").read_bytes())
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(tmp_path / "described.json")
    assert not sentinel.exists(), "no payload ran"


def test_a_renamed_non_safetensors_file_is_refused(tmp_path: Path) -> None:
    save_checkpoint(_tiny(), tmp_path / "m", metadata=META)
    (tmp_path / "m.safetensors").write_bytes(b"GGUF\x00\x00\x00\x00" + bytes(64))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_checkpoint_info(tmp_path / "m")


def test_registry_lists_usable_checkpoints_and_says_why_others_are_skipped(tmp_path: Path) -> None:
    user, repo = tmp_path / "user", tmp_path / "repo"
    save_checkpoint(_tiny(1), user / "mine", metadata=META)
    save_checkpoint(_tiny(2), user / "shared", metadata=META)
    save_checkpoint(_tiny(3), repo / "shared", metadata=META)
    save_checkpoint(_tiny(4, space="flame56"), repo / "flame_lips", metadata=META)
    (repo / "flame_lips.md").write_text("FLAME lips, synthetic data.")
    save_checkpoint(_tiny(5), repo / "broken", metadata=META)
    (repo / "broken.json").write_text("{nope")
    save_checkpoint(_tiny(6), repo / "alien", metadata=META)
    _edit_json(repo / "alien", family="from-the-future")
    save_checkpoint(_tiny(7), repo / "orphan", metadata=META)
    (repo / "orphan.json").unlink()
    torch.save({"w": torch.zeros(1)}, repo / "legacy.pth")

    registry = CheckpointRegistry([user, repo, tmp_path / "absent"])
    assert [c.name for c in registry.list()] == ["flame_lips", "mine", "shared"]
    assert registry.find("shared").path.parent == user, "the user's checkpoint shadows the shipped one"
    assert [c.name for c in registry.list(space="flame56")] == ["flame_lips"]
    assert registry.find("flame_lips").card == "FLAME lips, synthetic data."
    reasons = {s.path.name: s.reason for s in registry.skipped}
    assert "not valid JSON" in reasons["broken.json"]
    assert "unknown model family 'from-the-future'" in reasons["alien.json"]
    assert "orphan.json is missing" in reasons["orphan.json"]
    assert "cannot be trusted" in reasons["legacy.pth"]
    assert "shadowed" in reasons["shared.json"]
    model, info = registry.load("mine")
    assert _same_weights(model, _tiny(1)) and info.family == "test-tiny"
    with pytest.raises(CheckpointError, match="no usable checkpoint named 'broken' .*not valid JSON"):
        registry.find("broken")


def test_default_folders_are_the_repo_models_and_the_user_data_dir() -> None:
    assert repo_models_dir() == REPO / "models"
    assert str(user_models_dir()).startswith(os.environ["XDG_DATA_HOME"])
    assert CheckpointRegistry().folders == [user_models_dir(), repo_models_dir()]
