"""Stale temp files of killed saves are swept when a project is opened or saved in their folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mmface_studio.core.atomic import atomic_write, part_prefix, part_target, pid_alive, sweep_stale_parts
from mmface_studio.core.document import Project, load_project, save_project

REPO = Path(__file__).resolve().parents[2]

# Writes a temp file the way atomic_write does, then hangs until it is killed mid-"save".
HANG_IN_WRITE = r"""
import sys, time
from mmface_studio.core.atomic import atomic_write
def write(handle):
    handle.write(b"half a project")
    handle.flush()
    print("writing", flush=True)
    time.sleep(600)
atomic_write(sys.argv[1], write)
"""


def _killed_writer_part(target: Path) -> Path:
    """A real leftover: a subprocess inside atomic_write, killed with SIGKILL."""
    child = subprocess.Popen([sys.executable, "-c", HANG_IN_WRITE, str(target)], stdout=subprocess.PIPE, text=True,
                             cwd=REPO)
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    parts = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    assert len(parts) == 1 and str(child.pid) in parts[0].name
    assert not pid_alive(child.pid)
    return parts[0]


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_opening_a_project_sweeps_the_part_of_a_killed_save(tmp_path: Path) -> None:
    path = tmp_path / "take.mmfs"
    save_project(Project(prompt="kept"), path)
    part = _killed_writer_part(path)
    assert part_target(part) == "take.mmfs"
    assert load_project(path).prompt == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.mmfs"], "the dead writer's part is gone"


def test_saving_sweeps_parts_of_other_projects_in_the_folder(tmp_path: Path) -> None:
    part = _killed_writer_part(tmp_path / "other.mmfs")
    save_project(Project(), tmp_path / "take.mmfs")
    assert not part.exists()


def test_a_save_in_progress_and_other_programs_files_are_left_alone(tmp_path: Path) -> None:
    live = tmp_path / f"{part_prefix('take.mmfs')}abcd1234.part"  # this process is "still writing" it
    live.write_bytes(b"in progress")
    foreign = [tmp_path / ".notes.txt.part", tmp_path / "movie.mkv.part", tmp_path / ".photo.jpg.abcd1234.part"]
    for path in foreign:
        path.write_bytes(b"not ours")
        _age(path, 3600)
    save_project(Project(), tmp_path / "take.mmfs")
    assert live.exists() and all(p.exists() for p in foreign)
    _age(live, 120)  # nothing written for two minutes: abandoned, whoever the writer was
    assert sweep_stale_parts(tmp_path, (".mmfs",)) == [live]


def test_parts_of_older_builds_are_swept_by_age(tmp_path: Path) -> None:
    legacy = tmp_path / ".take.mmfs.k3j2_x9q.part"  # mkstemp's name, without a writer id
    legacy.write_bytes(b"old")
    save_project(Project(), tmp_path / "take.mmfs")
    assert legacy.exists(), "a fresh part without a writer id may belong to a running save"
    _age(legacy, 61)
    load_project(tmp_path / "take.mmfs")
    assert not legacy.exists()


def test_atomic_write_removes_its_part_when_the_writer_fails(tmp_path: Path) -> None:
    def fail(handle) -> None:
        handle.write(b"x")
        raise RuntimeError("disk on fire")

    try:
        atomic_write(tmp_path / "a.bin", fail)
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []

