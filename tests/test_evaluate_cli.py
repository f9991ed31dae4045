"""``mmface-studio evaluate``: a generated take against a reference, as a table or JSON; clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.cli_evaluate import main
from mmface_studio.core.document import Project, save_project
from mmface_studio.core.performance import Performance
from mmface_studio.core.performance_io import save_performance
from mmface_studio.core.spaces import ARKIT52, FLAME56
from mmface_studio.engine import GenerationRequest, Pipeline, synthetic_analysis

REPO = Path(__file__).resolve().parents[1]
SPEECH = REPO.parent / "shared" / "speech" / "dev" / "wav16k" / "ps_librivox_0880.wav"


@pytest.fixture(scope="module")
def takes(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("takes")
    base = Pipeline().run(GenerationRequest(audio=np.zeros(16000 * 3, np.float32)),
                          analysis=synthetic_analysis(3.0, seed=2))
    late = base.values.copy()
    late[:, 3:] = base.values[:, :-3]
    return {
        "ref": save_performance(base, folder / "ref.npz"),
        "same": save_performance(base, folder / "same.json"),  # .json rounds to 1e-6
        "late": save_performance(Performance(base.fps, base.space, late), folder / "late.npz"),
        "project": save_project(Project(base=base), folder / "shot.mmfs"),
        "empty": save_project(Project(), folder / "empty.mmfs"),
        "flame": save_performance(Performance(30.0, FLAME56, np.zeros((len(FLAME56), 90), np.float32)),
                                  folder / "flame.npz"),
    }


def _json(capsys, *args: str) -> dict:
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_take_against_itself_scores_zero(takes, capsys) -> None:
    report = _json(capsys, str(takes["same"]), str(takes["ref"]))
    assert report["space"] == "arkit52" and report["frames"] == 90 and report["fps"] == 30.0
    assert all(v == pytest.approx(0.0, abs=1e-4) for v in report["comparison"].values()), report["comparison"]
    assert report["generated_quality"] == pytest.approx(report["reference_quality"], abs=1e-5, nan_ok=True)
    assert report["generated_quality"]["closure_rate"] is None, "no speech given: closure does not apply"


def test_a_late_take_has_lip_errors_and_a_table(takes, capsys) -> None:
    report = _json(capsys, str(takes["late"]), str(takes["ref"]))
    c = report["comparison"]
    assert c["lve_mm"] > c["lip_mean_mm"] > 0 and c["lve_mm"] > c["upper_face_max_mm"]
    assert c["face_max_mm"] >= c["lve_mm"] and c["fve_mm"] > 0
    assert main(["evaluate", str(takes["late"]), str(takes["ref"])]) == 0
    table = capsys.readouterr().out
    assert "LVE, lip max error (mm)" in table and f"{c['lve_mm']:.4g}" in table and "generated" in table


def test_a_project_is_evaluated_with_its_edit_layers(takes, capsys) -> None:
    report = _json(capsys, str(takes["project"]), str(takes["ref"]))
    assert report["comparison"]["lve_mm"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("pair", "message"), [
    (("empty", "ref"), "no generated performance yet"),
    (("flame", "ref"), "the generated take is flame56 and the reference arkit52"),
    (("flame", "flame"), "--flame FILE"),
])
def test_errors_are_one_line(takes, capsys, pair, message) -> None:
    assert main(["evaluate", str(takes[pair[0]]), str(takes[pair[1]])]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_and_wrong_suffix(takes, capsys, tmp_path) -> None:
    assert main(["evaluate", str(tmp_path / "nope.npz"), str(takes["ref"])]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "take.csv").write_text("x")
    assert main(["evaluate", str(tmp_path / "take.csv"), str(takes["ref"])]) == 2
    assert "expected .npz, .json" in capsys.readouterr().err


@pytest.mark.skipif(not SPEECH.is_file(), reason="needs ../shared/speech (real speech recordings)")
def test_closure_rate_with_the_speech_as_a_standalone_command(tmp_path) -> None:
    from mmface_studio.audio import load_audio

    transcript = "he was not an ill disposed young man"
    perf = Pipeline().run(GenerationRequest(audio=load_audio(SPEECH), transcript=transcript))
    take = save_performance(perf, tmp_path / "take.npz")
    shut = perf.values.copy()
    shut[ARKIT52.index["jawOpen"]] = 0.6  # a mouth that never closes
    shut[ARKIT52.index["mouthClose"]] = 0.0
    open_take = save_performance(Performance(perf.fps, perf.space, shut), tmp_path / "open.npz")
    result = subprocess.run([sys.executable, "-m", "mmface_studio.cli_evaluate", "evaluate", str(open_take), str(take),
                             "--audio", str(SPEECH), "--transcript", transcript, "--json"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["reference_quality"]["closure_rate"] >= 0.5
    assert report["generated_quality"]["closure_rate"] == 0.0
