"""``mmface-studio generate`` on real speech, and the files it writes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.core.performance import Performance
from mmface_studio.core.performance_io import PerformanceFileError, load_performance, save_performance
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.export.arkit_csv import ArkitCsvError, read_from_file, timecode, write_to_file

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "speech" / "dev" / "wav16k" / "ps_librivox_0880.wav"
TEXT = "he was not an ill disposed young man"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmface_studio", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    if not CLIP.exists():
        pytest.skip(f"shared speech clip missing: {CLIP}")
    out = tmp_path_factory.mktemp("gen")
    paths = {suffix: out / f"take.{suffix}" for suffix in ("npz", "json", "csv")}
    for path in paths.values():
        result = run("generate", str(CLIP), "--transcript", TEXT, "--emotion", "happiness:0.8@0,sadness:0.6@2",
                     "--pose-style", "nodding", "--seed", "7", "-o", str(path))
        assert result.returncode == 0, result.stderr
        assert "alignment" in result.stdout
    return paths


def test_npz_and_json_hold_the_same_performance_with_provenance(generated) -> None:
    a, b = load_performance(generated["npz"]), load_performance(generated["json"])
    assert a.space is ARKIT52 and a.fps == 30.0
    assert a.frame_count == b.frame_count == pytest.approx(90, abs=2)
    assert np.allclose(a.values, b.values, atol=1e-5)
    assert a.provenance["engine"] == "classic"
    assert json.dumps(a.provenance)  # provenance stays plain JSON
    assert a.curve("jawOpen").max() > 0.2, "the mouth opens while he speaks"
    assert a.curve("mouthSmileLeft")[:20].mean() > a.curve("mouthSmileLeft")[-10:].mean(), "happy, then sad"


def test_csv_is_live_link_face_layout_and_round_trips(generated) -> None:
    with open(generated["csv"]) as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
    assert rows[0][-9:] == ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                            "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
    assert len(rows[0]) == 2 + 61 and rows[1][1] == "61" and rows[1][0] == "00:00:00:00.000"
    back = read_from_file(generated["csv"])
    assert np.allclose(back.values, load_performance(generated["npz"]).values, atol=1e-5)


def test_timecode_counts_frames_within_seconds() -> None:
    assert timecode(0, 30) == "00:00:00:00.000"
    assert timecode(31, 30) == "00:00:01:01.033"
    assert timecode(30 * 3661, 30) == "01:01:01:00.000"


def test_bad_inputs_are_one_clear_line(tmp_path) -> None:
    junk = tmp_path / "speech.wav"
    junk.write_text("not audio at all")
    result = run("generate", str(junk), "-o", str(tmp_path / "x.npz"))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "speech.wav" in result.stderr
    if CLIP.exists():
        result = run("generate", str(CLIP), "--emotion", "hapiness:0.5@0", "-o", str(tmp_path / "x.npz"))
        assert result.returncode == 2 and "happiness" in result.stderr
        result = run("generate", str(CLIP), "-o", str(tmp_path / "x.txt"))
        assert result.returncode == 2 and ".npz" in result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_damaged_performance_files_are_refused_clearly(tmp_path) -> None:
    perf = Performance(30.0, ARKIT52, np.zeros((len(ARKIT52), 10)))
    good = save_performance(perf, tmp_path / "ok.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(good.read_bytes()[:100])
    with pytest.raises(PerformanceFileError, match="broken.npz"):
        load_performance(broken)
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(PerformanceFileError, match="not an MMFace Studio performance"):
        load_performance(tmp_path / "other.json")
    (tmp_path / "bad.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ArkitCsvError, match="Live Link Face header"):
        read_from_file(tmp_path / "bad.csv")
    assert write_to_file(perf, tmp_path / "ok.csv").exists()
    assert not list(tmp_path.glob("*.part"))
