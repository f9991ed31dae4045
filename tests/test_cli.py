"""The command line as a user runs it (real processes, real files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "mmface_studio", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def test_version() -> None:
    from mmface_studio import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_rig_info_lists_counts_and_the_52_arkit_channels() -> None:
    result = run_cli("rig", "info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["vertices"] > 3000 and info["faces"] > 3000
    assert len(info["parts"]) >= 4, "skin, eyes, teeth and tongue are separate parts"
    assert info["blendshapes"] == 52
    assert "jawOpen" in info["channels"] and "HeadYaw" in info["channels"]
    text = run_cli("rig", "info")
    assert "vertices:" in text.stdout and "jawOpen" in text.stdout


def test_rig_info_on_a_flame_file(tmp_path) -> None:
    from mmface_studio.rig.flame.synthetic import write_synthetic_flame

    path = tmp_path / "generic_model.pkl"
    write_synthetic_flame(path)
    result = run_cli("rig", "info", "--flame", str(path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["space"] == "flame56" and "jaw_x" in info["channels"]


@pytest.mark.parametrize("kind", ["malicious", "truncated", "missing", "text", "missing-keys"])
def test_bad_flame_files_give_one_clear_line(tmp_path, kind) -> None:
    from mmface_studio.rig.flame.synthetic import write_malicious_pickle, write_synthetic_flame

    path = tmp_path / "model.pkl"
    if kind == "malicious":
        write_malicious_pickle(path)
    elif kind == "truncated":
        write_synthetic_flame(path)
        path.write_bytes(path.read_bytes()[:1500])
    elif kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "missing-keys":
        import pickle

        from mmface_studio.rig.flame.synthetic import synthetic_flame_dict

        model = synthetic_flame_dict(vertex_count_hint=600)
        del model["posedirs"]
        path.write_bytes(pickle.dumps(model, protocol=2))
    result = run_cli("rig", "info", "--flame", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("mmface-studio: error:") and len(result.stderr) > 40
    if kind == "missing-keys":
        assert "posedirs" in result.stderr


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_render_writes_a_png_that_changes_with_the_channels(tmp_path) -> None:
    from vispy.io import read_png

    neutral, smile = tmp_path / "neutral.png", tmp_path / "shots" / "jaw.png"
    assert run_cli("render", "-o", str(neutral), "--size", "320x320").returncode == 0
    result = run_cli("render", "--set", "jawOpen=1,mouthSmileLeft=0.5", "--size", "320x320", "-o", str(smile))
    assert result.returncode == 0, result.stderr
    assert _png_size(smile) == (320, 320)
    a, b = read_png(str(neutral)).astype(int), read_png(str(smile)).astype(int)
    assert (np.abs(a - b).sum(axis=2) > 30).sum() > 200


def test_render_rejects_unknown_channels_and_bad_values(tmp_path) -> None:
    result = run_cli("render", "--set", "jawOpne=1", "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "Did you mean jawOpen" in result.stderr
    result = run_cli("render", "--set", "jawOpen=wide", "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "not a number" in result.stderr
    assert not (tmp_path / "x.png").exists()
