"""Autosave to a recovery folder and crash recovery, without Qt (DESIGN 4).

The GUI calls :meth:`RecoveryStore.autosave` from a timer (every 60 s); it writes a full project
file, atomically, only when the project changed since the last autosave or save. On a clean save
or close the GUI calls :meth:`clear_for`. What is left in the folder after a crash is offered by
:meth:`pending` at the next start.

Each running instance is a *session* that holds an OS lock on ``<session>.lock`` in the folder
for as long as it lives (``flock`` on POSIX, ``msvcrt.locking`` on Windows). The OS drops the lock
when the process dies, however it dies, so "is that session still running?" is answered by
trying the lock, not by trusting a pid that may have been reused. A second running instance
therefore never offers to "recover" the first one's live autosaves.

Files per autosaved project: ``<session>--<project uid>.mmfs`` and a ``.json`` sidecar with the
time, the original file name and path.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from mmface_studio.core.atomic import atomic_write
from mmface_studio.core.project import Project
from mmface_studio.core.project_file import load_project, save_project
from mmface_studio.core.project_schema import ProjectFileError

APP_NAME = "mmface-studio"
_SEP = "--"


class RecoveryError(ProjectFileError):
    """An autosave could not be written or a recovery file cannot be used (message is user-facing)."""


@dataclass(frozen=True)
class RecoveryEntry:
    """An autosave left by a session that is no longer running."""

    path: Path  #: the autosaved project file
    saved_at: datetime  #: when it was autosaved (timezone-aware)
    name: str  #: what the user called it: the original file's name, or "Untitled"
    source: Path | None  #: the file the project was opened from / saved to, if any
    session: str


def default_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / "recovery"


class _SessionLock:
    """An exclusive, non-blocking OS lock on one file, held while the session lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self, info: dict[str, Any]) -> None:
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the session's life
        if not _try_lock(fh, exclusive=True):
            fh.close()
            raise RecoveryError(f"The recovery session lock {self.path.name} is held by another process.")
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(info))
        fh.flush()
        self._fh = fh

    @property
    def held(self) -> bool:
        return self._fh is not None

    def release(self, remove: bool = True) -> None:
        if self._fh is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        _unlock(self._fh)
        self._fh.close()
        self._fh = None


def _try_lock(fh: IO[str], *, exclusive: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fh.fileno(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fh: IO[str]) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def session_alive(lock_path: Path) -> bool:
    """Whether the session owning ``lock_path`` is running (it holds the lock)."""
    try:
        fh = open(lock_path, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return False
    try:
        if _try_lock(fh, exclusive=False):
            _unlock(fh)
            return False
        return True
    finally:
        fh.close()


class RecoveryStore:
    """Autosaves of this running session plus the recoverable leftovers of crashed ones.

    ``folder`` defaults to ``<user data dir>/mmface-studio/recovery`` (platformdirs). Nothing
    touches the disk until the first ``autosave`` or ``pending``.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()
        self.session = f"s{int(time.time())}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = _SessionLock(self.folder / f"{self.session}.lock")
        self._revisions: dict[str, int] = {}  # project uid -> revision already safe on disk

    # --- this session ---------------------------------------------------------------------------

    def autosave(self, project: Project, source: str | Path | None = None) -> Path | None:
        """Write ``project`` to the recovery folder if it changed since the last autosave/save.

        ``source``: the project's file, if it has one (shown when offering recovery). Returns the
        autosave's path, or None when there was nothing new to write.
        """
        if project.revision == self._revisions.get(project.uid, 0):
            return None
        self._ensure_session()
        target = self._path(project.uid, ".mmfs")
        try:
            save_project(project, target)
            src = Path(source) if source is not None else None
            sidecar = {"session": self.session, "pid": os.getpid(), "host": socket.gethostname(),
                       "saved_at": datetime.now(timezone.utc).isoformat(), "revision": project.revision,
                       "source": str(src) if src else None, "name": src.name if src else "Untitled",
                       "file": target.name}
            atomic_write(self._path(project.uid, ".json"), lambda fh: fh.write(json.dumps(sidecar).encode()))
        except ProjectFileError as exc:
            raise RecoveryError(f"Autosave failed: {exc}") from exc
        except OSError as exc:
            raise RecoveryError(f"Autosave failed: cannot write in {self.folder} ({exc.strerror or exc}).") from exc
        self._revisions[project.uid] = project.revision
        return target

    def clear_for(self, project: Project) -> None:
        """The project was saved or closed on purpose: drop its autosave (call on save and clean close)."""
        for suffix in (".mmfs", ".json"):
            self._path(project.uid, suffix).unlink(missing_ok=True)
        self._revisions[project.uid] = project.revision

    def close(self) -> None:
        """Release this session's lock (at application exit). Autosaves not cleared stay recoverable."""
        if self._lock.held:
            remaining = list(self.folder.glob(f"{self.session}{_SEP}*.mmfs"))
            self._lock.release(remove=not remaining)

    def __enter__(self) -> RecoveryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- leftovers of other sessions ------------------------------------------------------------

    def pending(self) -> list[RecoveryEntry]:
        """Autosaves of sessions that are not running any more (newest first)."""
        if not self.folder.is_dir():
            return []
        entries: list[RecoveryEntry] = []
        alive: dict[str, bool] = {}
        for path in self.folder.glob(f"*{_SEP}*.mmfs"):
            session = path.name.split(_SEP, 1)[0]
            if session == self.session:
                continue
            if session not in alive:
                alive[session] = session_alive(self.folder / f"{session}.lock")
            if not alive[session]:
                entries.append(self._entry(path, session))
        self._sweep(alive)
        return sorted(entries, key=lambda e: e.saved_at, reverse=True)

    def recover(self, entry: RecoveryEntry) -> Project:
        """Open an autosave and adopt it into this session (its next autosave replaces it).

        The returned project was never saved: the GUI should keep it marked modified
        (``UndoStack.reset_clean()``) and offer ``entry.source`` as the place to save it.
        """
        self._refuse_if_alive(entry)
        try:
            project = load_project(entry.path)
        except ProjectFileError as exc:
            raise RecoveryError(f"The autosave of {entry.name} cannot be recovered: {exc}") from exc
        self._ensure_session()
        os.replace(entry.path, self._path(project.uid, ".mmfs"))
        sidecar = entry.path.with_suffix(".json")
        data = self._sidecar(sidecar) or {}
        data.update({"session": self.session, "pid": os.getpid(), "file": self._path(project.uid, ".mmfs").name,
                     "name": entry.name, "source": str(entry.source) if entry.source else None,
                     "saved_at": entry.saved_at.isoformat()})
        atomic_write(self._path(project.uid, ".json"), lambda fh: fh.write(json.dumps(data).encode()))
        sidecar.unlink(missing_ok=True)
        self._revisions[project.uid] = project.revision
        return project

    def discard(self, entry: RecoveryEntry) -> None:
        """Delete an autosave the user chose not to recover."""
        self._refuse_if_alive(entry)
        entry.path.unlink(missing_ok=True)
        entry.path.with_suffix(".json").unlink(missing_ok=True)
        self._sweep({entry.session: False})

    # --- internals ------------------------------------------------------------------------------

    def _path(self, uid: str, suffix: str) -> Path:
        return self.folder / f"{self.session}{_SEP}{uid}{suffix}"

    def _ensure_session(self) -> None:
        if self._lock.held:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock.acquire({"session": self.session, "pid": os.getpid(), "host": socket.gethostname(),
                                "started": datetime.now(timezone.utc).isoformat()})
        except OSError as exc:
            raise RecoveryError(f"Cannot use the recovery folder {self.folder}: {exc.strerror or exc}.") from exc

    def _refuse_if_alive(self, entry: RecoveryEntry) -> None:
        if entry.session == self.session or session_alive(self.folder / f"{entry.session}.lock"):
            raise RecoveryError(f"{entry.name} is still open in a running MMFace Studio; it is not a leftover.")

    @staticmethod
    def _sidecar(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _entry(self, path: Path, session: str) -> RecoveryEntry:
        data = self._sidecar(path.with_suffix(".json")) or {}
        try:
            saved_at = datetime.fromisoformat(str(data["saved_at"]))
        except (KeyError, ValueError):
            saved_at = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        source = data.get("source")
        name = data.get("name")
        return RecoveryEntry(path, saved_at, name if isinstance(name, str) and name else "Untitled",
                             Path(source) if isinstance(source, str) and source else None, session)

    def _sweep(self, alive: dict[str, bool]) -> None:
        """Remove the lock files and half-written temp files of dead sessions that have nothing left."""
        for lock in self.folder.glob("*.lock"):
            session = lock.stem
            if session == self.session or any(self.folder.glob(f"{session}{_SEP}*.mmfs")):
                continue
            if not alive.get(session, session_alive(lock)):
                lock.unlink(missing_ok=True)
        for part in self.folder.glob(".*.part"):
            session = part.name[1:].split(_SEP, 1)[0]
            if session != self.session and not alive.get(session, session_alive(self.folder / f"{session}.lock")):
                part.unlink(missing_ok=True)
