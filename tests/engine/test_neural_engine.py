"""Neural engines behind the pipeline: same request, same Performance, same stage caches as the classic one.

Tiny untrained checkpoints are written to a temporary folder and discovered like installed ones;
what is tested is the plumbing a user relies on (the edit re-runs only its stage, locks hold,
the prompt and seeds reach the models), not the quality of untrained weights.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mmface_studio.engine import GenerationRequest, Pipeline, PoseLock, RequestError
from mmface_studio.engine.checkpoints import save_checkpoint
from mmface_studio.engine.models.base import families
from mmface_studio.engine.neural import register_installed, scan_checkpoints

RATE = 16_000


def _speechlike(seconds: float = 3.0) -> np.ndarray:
    """Voiced bursts (syllables) with pauses: enough for energy-driven stages to see speech and silence."""
    t = np.arange(int(RATE * seconds)) / RATE
    carrier = np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 280 * t) + 0.2 * np.sin(2 * np.pi * 1200 * t)
    envelope = (np.sin(2 * np.pi * 3 * t) > 0) * (t % 1.5 < 1.1)
    return (0.2 * carrier * envelope).astype(np.float32)


def _save(folder: Path, family: str, name: str, space: str = "arkit52") -> None:
    cls = families()[family]
    extra = {"text_dim": 384} if family == "mm2face" else {}
    model = cls(cls.config_class.tiny(audio_dim=80, space=space, **extra))
    save_checkpoint(model, folder / name, metadata={"fps": 30.0, "feature_type": "logmel80",
                                                    "training_data": "untrained (test)"})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models")
    for family in ("audio2flame", "resnet1d", "mm2face", "pose"):
        _save(folder, family, f"t-{family}")
    _save(folder, "resnet1d", "t-flame-resnet1d", space="flame56")
    _save(folder, "pose", "t-flame-pose", space="flame56")
    register_installed([folder])
    return folder


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    return _speechlike()


def test_discovery_lists_face_checkpoints_and_pairs_pose(installed: Path) -> None:
    names = {c.name: c for c in scan_checkpoints([installed])}
    assert {"t-audio2flame", "t-resnet1d", "t-mm2face", "t-pose"} <= set(names)
    engine = Pipeline().engine("t-audio2flame")
    assert engine.pose_model is not None and engine.needs_phones is False


@pytest.mark.parametrize("name", ["t-audio2flame", "t-resnet1d", "t-mm2face"])
def test_each_family_generates_a_performance_without_pocketsphinx(installed: Path, audio: np.ndarray,
                                                                   name: str) -> None:
    pipeline = Pipeline()
    perf = pipeline.run(GenerationRequest(audio=audio, engine=name, prompt="a calm woman, nodding"))
    assert perf.space.name == "arkit52"
    assert perf.values.shape == (61, 90)
    assert np.isfinite(perf.values).all()
    assert pipeline.last_analysis.mode == "vad"
    assert perf.provenance["engine"] == name


def test_flame_checkpoint_gives_a_flame_performance(installed: Path, audio: np.ndarray) -> None:
    perf = Pipeline().run(GenerationRequest(audio=audio, engine="t-flame-resnet1d"))
    assert perf.space.name == "flame56" and perf.values.shape == (65, 90)


def test_emotion_edit_reruns_only_emotion_and_pose_resample_only_pose(installed: Path, audio: np.ndarray) -> None:
    pipeline = Pipeline()
    request = GenerationRequest(audio=audio, engine="t-audio2flame")
    first = pipeline.run(request)
    pipeline.stage_runs.clear()
    happy = pipeline.run(replace(request, emotion="happiness"))
    assert dict(pipeline.stage_runs) == {"emotion": 1, "compose": 1}
    assert not np.allclose(happy.values[:52], first.values[:52])
    pipeline.stage_runs.clear()
    pipeline.run(replace(request, pose_seed=7))
    assert dict(pipeline.stage_runs) == {"pose": 1, "compose": 1}


def test_pose_seed_changes_the_take_and_locks_hold(installed: Path, audio: np.ndarray) -> None:
    pipeline = Pipeline()
    request = GenerationRequest(audio=audio, engine="t-resnet1d")
    first = pipeline.run(request)
    rows = [first.space.index[n] for n in ("HeadYaw", "HeadPitch", "HeadRoll")]
    again = pipeline.run(replace(request, pose_seed=0))
    other = pipeline.run(replace(request, pose_seed=3))
    np.testing.assert_array_equal(again.values[rows], first.values[rows])
    assert not np.allclose(other.values[rows], first.values[rows])
    locked = pipeline.run(replace(request, pose_seed=11, locks=(PoseLock(0.5, 1.5),)), previous=first)
    np.testing.assert_array_equal(locked.values[rows][:, 15:45], first.values[rows][:, 15:45])
    assert not np.allclose(locked.values[rows][:, 60:], first.values[rows][:, 60:])


def test_prompt_and_seed_are_part_of_mm2face_cache_key(installed: Path, audio: np.ndarray) -> None:
    pipeline = Pipeline()
    request = GenerationRequest(audio=audio, engine="t-mm2face", prompt="smiles")
    pipeline.run(request)
    pipeline.stage_runs.clear()
    pipeline.run(replace(request, prompt="frowns, then yawns"))
    assert pipeline.stage_runs["lipsync"] == 1
    pipeline.stage_runs.clear()
    pipeline.run(replace(request, emotion="sadness"))
    assert pipeline.stage_runs["lipsync"] == 0


def test_wrong_fps_is_refused_clearly(installed: Path, audio: np.ndarray) -> None:
    with pytest.raises(RequestError, match="generates 30 fps"):
        Pipeline().run(GenerationRequest(audio=audio, engine="t-resnet1d", fps=24.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_and_cpu_agree(installed: Path, audio: np.ndarray) -> None:
    from mmface_studio.engine.checkpoints import load_checkpoint
    from mmface_studio.engine.neural.engine import NeuralEngine
    from mmface_studio.engine.pipeline import register_engine

    model, _ = load_checkpoint(installed / "t-resnet1d.safetensors")
    register_engine("t-cpu", lambda: NeuralEngine(load_checkpoint(installed / "t-resnet1d.safetensors")[0],
                                                  device="cpu"), needs_phones=False)
    register_engine("t-cuda", lambda: NeuralEngine(model, device="cuda"), needs_phones=False)
    cpu = Pipeline().run(GenerationRequest(audio=audio, engine="t-cpu"))
    gpu = Pipeline().run(GenerationRequest(audio=audio, engine="t-cuda"))
    np.testing.assert_allclose(gpu.values[:52], cpu.values[:52], atol=1e-3)
