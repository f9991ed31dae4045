"""``mmface-studio export project.mmfs``: the project's base plus its edit layers is what gets written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from mmface_studio.core.document import AddChannelKey, CurveKey, Project, UndoStack, save_project
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine import GenerationRequest, Pipeline, synthetic_analysis
from mmface_studio.export.arkit_csv import read_from_file

REPO = Path(__file__).resolve().parents[1]


def test_export_of_a_project_includes_its_edit_layers(tmp_path) -> None:
    base = Pipeline().run(GenerationRequest(audio=np.zeros(16000 * 3, np.float32)),
                          analysis=synthetic_analysis(3.0, seed=2))
    project, stack = Project(base=base), UndoStack()
    stack.push(AddChannelKey(project, "browInnerUp", CurveKey(1.5, 0.6)))
    path = save_project(project, tmp_path / "shot.mmfs")
    out = tmp_path / "shot.csv"
    result = subprocess.run([sys.executable, "-m", "mmface_studio", "export", str(path), "-o", str(out)],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    written = read_from_file(out)
    expected = project.evaluate()
    row = ARKIT52.index["browInnerUp"]
    assert np.allclose(written.values, expected.values, atol=1e-5)
    assert written.values[row].max() > base.values[row].max() + 0.3, "the layer edit is in the file"


def test_a_project_without_a_take_is_refused_clearly(tmp_path) -> None:
    path = save_project(Project(), tmp_path / "empty.mmfs")
    result = subprocess.run([sys.executable, "-m", "mmface_studio", "export", str(path), "-o",
                             str(tmp_path / "x.fbx")], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2 and "no generated performance" in result.stderr
