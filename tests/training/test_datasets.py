"""Real-data layouts: ``data check`` finds each kind of problem and nothing on clean folders.

The datasets of each layout (and of hand-made synthetic shards) load, crop, resample and collate.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from mmface_studio.core.performance import Performance
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.export.arkit_csv import to_csv_text
from mmface_studio.training import data_check
from mmface_studio.training.datasets import ArkitCsvDataset, FlameDataset, SyntheticDataset, collate, resample_motion
from mmface_studio.training.synth import shards

TEXT = {"action": "The person talks.", "emotion": "The person looks calm.", "expression": "The brows rise.",
        "head_pose": "The head is still.", "scenario": ["Reading the news", "Giving directions", "Ordering food"]}


def _tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.2 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _flame_folder(root: Path, clips: dict[str, float], fps: float = 25.0) -> Path:
    (root / "motion").mkdir(parents=True)
    (root / "audio").mkdir()
    (root / "text").mkdir()
    (root / "dataset.json").write_text(json.dumps({"format": "flame", "fps": fps}))
    rng = np.random.default_rng(0)
    for clip_id, seconds in clips.items():
        for sub in ("motion", "audio", "text"):
            (root / sub / clip_id).parent.mkdir(parents=True, exist_ok=True)
        motion = rng.normal(0, 0.3, (int(round(seconds * fps)), 56)).astype(np.float32)
        np.save(root / "motion" / f"{clip_id}.npy", motion)
        sf.write(root / "audio" / f"{clip_id}.wav", _tone(seconds, 22050), 22050)
        (root / "text" / f"{clip_id}.json").write_text(json.dumps(TEXT))
    return root


def _arkit_folder(root: Path, clips: dict[str, float], fps: float = 60.0) -> Path:
    (root / "motion").mkdir(parents=True)
    (root / "audio").mkdir()
    (root / "dataset.json").write_text(json.dumps({"format": "arkit-csv", "fps": fps}))
    for clip_id, seconds in clips.items():
        n = int(round(seconds * fps))
        values = np.zeros((len(ARKIT52), n), np.float32)
        values[ARKIT52.index["jawOpen"]] = 0.3 + 0.3 * np.sin(np.arange(n) / 5)
        values[ARKIT52.index["HeadYaw"]] = 0.1
        (root / "motion" / f"{clip_id}.csv").write_text(to_csv_text(Performance(fps, ARKIT52, values)))
        sf.write(root / "audio" / f"{clip_id}.wav", _tone(seconds), 16000)
    return root


def _check(root: Path) -> tuple[int, list[str]]:
    problems, _ = data_check.check_folder(root)
    from mmface_studio import cli_data

    parser = argparse.ArgumentParser()
    cli_data.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "check", str(root)])
    return int(args.func(args)), [str(p) for p in problems]


def test_clean_folders_have_no_problems(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    flame = _flame_folder(tmp_path / "flame", {"a": 2.0, "M003/angry/001": 1.6})
    arkit = _arkit_folder(tmp_path / "arkit", {"take1": 1.5, "take2": 2.2})
    assert _check(flame) == (0, [])
    assert _check(arkit) == (0, [])
    assert "2 clip(s) checked: no problems" in capsys.readouterr().out


def test_flame_check_finds_each_injected_problem(tmp_path: Path) -> None:
    root = _flame_folder(tmp_path / "flame", {"ok": 2.0, "noaudio": 2.0, "long": 2.0, "nan": 2.0, "fps30": 2.0,
                                              "badjson": 2.0, "cols": 2.0, "silentclip": 2.0})
    (root / "audio" / "noaudio.wav").unlink()
    np.save(root / "motion" / "long.npy", np.zeros((80, 56), np.float32))  # 3.2 s against 2 s of audio
    nan = np.load(root / "motion" / "nan.npy")
    nan[7, 3] = np.nan
    np.save(root / "motion" / "nan.npy", nan)
    np.save(root / "motion" / "fps30.npy", np.zeros((60, 56), np.float32))  # 60 frames over 2 s: 30 fps, not 25
    (root / "text" / "badjson.json").write_text('{"action": "talks",')
    np.save(root / "motion" / "cols.npy", np.zeros((50, 53), np.float32))
    (root / "audio" / "silentclip.wav").unlink()  # a text-to-motion clip: no audio is fine when declared
    (root / "text" / "silentclip.json").write_text(json.dumps({**TEXT, "speech": False}))
    sf.write(root / "audio" / "orphan.wav", _tone(1.0), 16000)
    code, problems = _check(root)
    assert code == 1
    expect = {"motion/noaudio.npy": "missing audio", "motion/long.npy": "length mismatch",
              "motion/nan.npy": "NaN", "motion/fps30.npy": "wrong fps", "text/badjson.json": "bad JSON",
              "motion/cols.npy": "wrong shape", "audio/orphan.wav": "no motion file"}
    for path, words in expect.items():
        assert any(p.startswith(path + ":") and words in p for p in problems), (path, problems)
    assert not any(p.startswith(("motion/ok.npy", "motion/silentclip.npy", "text/silentclip")) for p in problems)
    assert "first at frame 7" in next(p for p in problems if "NaN" in p)


def test_arkit_check_finds_each_injected_problem(tmp_path: Path) -> None:
    root = _arkit_folder(tmp_path / "arkit", {"ok": 1.5, "short_row": 1.5, "nan": 1.5, "cols": 1.5, "noaudio": 1.5})
    lines = (root / "motion" / "short_row.csv").read_text().splitlines()
    lines[5] = ",".join(lines[5].split(",")[:-3])
    (root / "motion" / "short_row.csv").write_text("\n".join(lines) + "\n")
    lines = (root / "motion" / "nan.csv").read_text().splitlines()
    cells = lines[10].split(",")
    cells[20] = "nan"
    lines[10] = ",".join(cells)
    (root / "motion" / "nan.csv").write_text("\n".join(lines) + "\n")
    rows = [r.split(",")[:-9] for r in (root / "motion" / "cols.csv").read_text().splitlines()]  # no head/eye columns
    (root / "motion" / "cols.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    (root / "audio" / "noaudio.wav").unlink()
    shutil.copy(root / "motion" / "ok.csv", root / "motion" / "at30.csv")
    sf.write(root / "audio" / "at30.wav", _tone(1.5), 16000)
    values = np.zeros((len(ARKIT52), 60), np.float32)
    (root / "motion" / "at30.csv").write_text(to_csv_text(Performance(30.0, ARKIT52, values)))  # 30 fps timecodes
    sf.write(root / "audio" / "at30.wav", _tone(2.0), 16000)
    code, problems = _check(root)
    assert code == 1
    expect = {"motion/short_row.csv": "wrong column count in 1 row", "motion/nan.csv": "NaN",
              "motion/cols.csv": "wrong column count: 54 columns", "motion/noaudio.csv": "missing audio",
              "motion/at30.csv": "wrong fps: the timecodes count 30"}
    for path, words in expect.items():
        assert any(p.startswith(path + ":") and words in p for p in problems), (path, problems)
    assert not any(p.startswith("motion/ok.csv") for p in problems)


def test_dataset_json_problems_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert "dataset.json is missing" in _check(tmp_path / "a")[1][0]
    (tmp_path / "a" / "dataset.json").write_text("{not json")
    assert "not valid JSON" in _check(tmp_path / "a")[1][0]
    (tmp_path / "a" / "dataset.json").write_text(json.dumps({"format": "flame", "fps": "fast"}))
    assert _check(tmp_path / "a")[0] == 1


def test_flame_dataset_loads_resamples_and_collates(tmp_path: Path) -> None:
    root = _flame_folder(tmp_path / "flame", {"a": 2.0, "b": 1.2, "c": 1.0})
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("a\nb\n")
    (root / "splits" / "test.txt").write_text("c\n")
    data = FlameDataset(root, split="train", fps=30.0)
    assert len(data) == 2 and len(FlameDataset(root, split="test")) == 1
    item = data[0]
    assert item["motion"].shape == (60, 56) and item["fps"] == 30.0 and item["space"] == "flame56"
    assert item["audio"].shape[0] == 32000 and bool(item["has_audio"])
    assert item["text"]["scenario"].startswith("Reading the news;")
    batch = next(iter(DataLoader(data, batch_size=2, collate_fn=collate)))
    assert batch["motion"].shape == (2, 60, 56) and batch["motion_lengths"].tolist() == [60, 36]
    assert batch["motion_mask"].tolist()[1] == [True] * 36 + [False] * 24
    assert torch.all(batch["motion"][1, 36:] == 0) and batch["audio"].shape == (2, 32000)
    assert batch["id"] == ["a", "b"] and batch["split"] == ["train", "train"]
    cropped = FlameDataset(root, max_seconds=0.5, generator=torch.Generator().manual_seed(0))[0]
    assert cropped["motion"].shape[0] == 12 and cropped["audio"].shape[0] == 7680  # 12 frames at 25 fps


def test_arkit_dataset_reads_channels_by_name(tmp_path: Path) -> None:
    root = _arkit_folder(tmp_path / "arkit", {"take1": 1.5, "take2": 1.0})
    data = ArkitCsvDataset(root)
    item = data[0]  # take1: 1.5 s at 60 fps
    assert item["motion"].shape == (90, 61) and item["space"] == "arkit52"
    assert item["motion"][:, ARKIT52.index["HeadYaw"]].allclose(torch.tensor(0.1))
    assert item["motion"][:, ARKIT52.index["jawOpen"]].max() > 0.5
    batch = collate([data[0], data[1]])
    assert batch["motion"].shape == (2, 90, 61) and batch["audio_mask"].sum().item() == 16000 + 24000
    with pytest.raises(data_check.LayoutError):
        FlameDataset(root)


def test_synthetic_dataset_from_hand_made_shards(tmp_path: Path) -> None:
    examples, metas = [], []
    for i, frames in enumerate((30, 45)):
        samples = int(frames / 30 * 16000)
        examples.append({"audio": np.full(samples, 1000, np.int16), "arkit": np.full((61, frames), 0.5, np.float32),
                         "emotion": np.full((7, frames), 1 / 7, np.float32), "pose_style": i})
        metas.append({"id": f"ex{i}", "split": "train" if i == 0 else "test", "kind": "speech", "voice": "v",
                      "sentence": "s", "text": dict.fromkeys(data_check.TEXT_LEVELS, "x")})
    shards.write_npz(tmp_path / "shard-00000.npz", shards.pack(examples, with_mel=False))
    shards.write_json(tmp_path / "shard-00000.json", {"examples": metas})
    shards.write_json(tmp_path / "index.json", {"format": shards.FORMAT, "version": 1, "fps": 30.0,
                                                "sample_rate": 16000, "shards": [
                                                    {"file": "shard-00000.npz", "meta": "shard-00000.json",
                                                     "examples": 2}]})
    data = SyntheticDataset(tmp_path)
    batch = collate([data[0], data[1]])
    assert batch["motion"].shape == (2, 45, 61) and batch["emotion"].shape == (2, 45, 7)
    assert batch["pose_style"].tolist() == [0, 1] and batch["audio"][0, 0].item() == pytest.approx(1000 / 32767)
    assert len(SyntheticDataset(tmp_path, split="test")) == 1
    assert data_check.check_folder(tmp_path)[0] == []
    arrays = shards.pack(examples, with_mel=False)
    arrays["arkit"][0, 3] = np.nan
    shards.write_npz(tmp_path / "shard-00000.npz", arrays)
    assert "NaN" in str(data_check.check_folder(tmp_path)[0][0])


def test_resample_motion_keeps_duration() -> None:
    values = np.linspace(0, 1, 25)[:, None].repeat(3, axis=1).astype(np.float32)
    out = resample_motion(values, 25.0, 30.0)
    assert out.shape == (30, 3) and out[0, 0] == 0 and out[-1, 0] == pytest.approx(1.0, abs=0.05)
