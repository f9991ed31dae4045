"""A save killed with SIGKILL never damages the file under the final name, and its temp file is swept on open
(bench/save_kill.py runs 100)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_killed_saves_leave_the_previous_file_intact() -> None:
    result = subprocess.run([sys.executable, "bench/save_kill.py", "--runs", "6"], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["opened_intact"] == report["runs"] == 6
    assert report["temp_files_after_open"] == 0, "opening the project sweeps what the killed saves left"
