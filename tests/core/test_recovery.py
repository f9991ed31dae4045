"""Autosave and crash recovery: only real leftovers are offered, live sessions are left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mmface_studio.core import recovery
from mmface_studio.core.document import (
    AddMarker,
    Project,
    RecoveryError,
    RecoveryStore,
    SetProperty,
    UndoStack,
    save_project,
)
from tests.core import random_base, snapshot

REPO = Path(__file__).resolve().parents[2]


def _edited() -> tuple[Project, UndoStack]:
    project, stack = Project(base=random_base(30)), UndoStack()
    stack.push(SetProperty(project, "prompt", "frowns"))
    stack.push(AddMarker(project, 0.5, "cue"))
    return project, stack


def test_autosave_writes_only_when_the_project_changed(tmp_path: Path) -> None:
    store = RecoveryStore(tmp_path / "rec")
    project, stack = Project(), UndoStack()
    assert store.autosave(project) is None  # untouched project: nothing to protect
    assert not (tmp_path / "rec").exists()
    stack.push(SetProperty(project, "prompt", "a"))
    first = store.autosave(project, tmp_path / "scene.mmfs")
    assert first is not None and first.is_file() and first.suffix == ".mmfs"
    assert store.autosave(project) is None  # no change since the last autosave
    stack.push(SetProperty(project, "prompt", "b"))
    assert store.autosave(project) == first
    store.clear_for(project)  # saved or closed on purpose
    assert not first.exists() and store.autosave(project) is None
    store.close()


def test_a_second_running_instance_does_not_offer_the_first_ones_live_autosave(tmp_path: Path) -> None:
    first, second = RecoveryStore(tmp_path), RecoveryStore(tmp_path)
    project, _ = _edited()
    first.autosave(project)
    assert second.pending() == [] and first.pending() == []
    first.close()  # the first instance is gone without clearing: now it is a leftover
    entries = second.pending()
    assert len(entries) == 1 and entries[0].name == "Untitled"
    second.close()


def test_a_crashed_session_is_recovered_with_its_name_and_time(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    script = textwrap.dedent(f"""
        import os
        from mmface_studio.core.document import Project, RecoveryStore, UndoStack, SetProperty, AddPoseLock
        project, stack = Project(), UndoStack()
        stack.push(SetProperty(project, "prompt", "laughs"))
        stack.push(AddPoseLock(project, 0.5, 1.5))
        RecoveryStore({str(folder)!r}).autosave(project, {str(tmp_path / 'dialogue.mmfs')!r})
        os._exit(9)  # a crash: no cleanup at all
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    store = RecoveryStore(folder)
    [entry] = store.pending()
    assert entry.name == "dialogue.mmfs" and entry.source == tmp_path / "dialogue.mmfs"
    assert (datetime.now(timezone.utc) - entry.saved_at).total_seconds() < 120
    project = store.recover(entry)
    assert project.prompt == "laughs" and [tuple(lk) for lk in project.locks] == [(0.5, 1.5)]
    # adopted by this session: no longer a leftover, and a later autosave replaces it
    assert store.pending() == [] and RecoveryStore(folder).pending() == []
    assert sorted(p.suffix for p in folder.iterdir() if not p.name.endswith(".lock")) == [".json", ".mmfs"]
    project.assign(prompt="laughs more")
    store.autosave(project)
    store.clear_for(project)
    assert [p.suffix for p in folder.iterdir()] == [".lock"]
    store.close()
    assert list(folder.iterdir()) == []


def test_discarding_and_refusing_live_or_damaged_entries(tmp_path: Path) -> None:
    crashed = RecoveryStore(tmp_path)
    project, _ = _edited()
    crashed.autosave(project, "/projects/take2.mmfs")
    crashed._lock.release(remove=False)  # simulate the process dying while the lock file stays
    store = RecoveryStore(tmp_path)
    [entry] = store.pending()
    assert entry.name == "take2.mmfs"
    assert snapshot(store.recover(entry))[:2] == snapshot(project)[:2]
    store.discard(entry)  # stale after recovery (the file was adopted): nothing to delete
    assert len(list(tmp_path.glob(f"{store.session}--*.mmfs"))) == 1

    other = RecoveryStore(tmp_path)
    p2, _ = _edited()
    other.autosave(p2)
    live = recovery.RecoveryEntry(next(tmp_path.glob(f"{other.session}--*.mmfs")), datetime.now(timezone.utc),
                                  "x", None, other.session)
    with pytest.raises(RecoveryError, match="still open"):
        store.recover(live)
    other.close()
    [left] = store.pending()
    left.path.write_bytes(b"not a zip")
    with pytest.raises(RecoveryError, match="cannot be recovered"):
        store.recover(left)
    store.discard(left)
    assert store.pending() == [] and not list(tmp_path.glob(f"{other.session}*"))
    store.close()


def test_autosave_failure_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    project, _ = _edited()
    with pytest.raises(RecoveryError, match="recovery folder"):
        RecoveryStore(blocker / "rec").autosave(project)


def test_the_default_folder_is_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert RecoveryStore().folder == tmp_path / "mmface-studio" / "recovery"


def test_leftover_temp_files_and_locks_of_dead_sessions_are_swept(tmp_path: Path) -> None:
    (tmp_path / "s1-1-dead.lock").write_text("{}")
    (tmp_path / ".s1-1-dead--abc.mmfs.xyz.part").write_bytes(b"half")
    save_project(Project(prompt="x"), tmp_path / "s1-1-dead--abc.mmfs")
    store = RecoveryStore(tmp_path)
    assert len(store.pending()) == 1
    assert not (tmp_path / ".s1-1-dead--abc.mmfs.xyz.part").exists()
    store.discard(store.pending()[0])
    assert list(tmp_path.iterdir()) == []
