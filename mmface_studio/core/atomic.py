"""Atomic file writes: temp file in the same folder, fsync, rename; and the sweep of what killed writes left.

A crash, a full disk or a cancel never leaves a half-written file under the final name (DESIGN 4);
the temp file is removed on any failure the writer lives to see. A writer killed outright
(SIGKILL, power loss) cannot clean up, so its temp file stays beside the target as a hidden
``.NAME.HOST~PID~XXXXXXXX.part``. The name says who wrote it, which is what lets
:func:`sweep_stale_parts` tell a dead writer's leftover from a save still in progress in another
process: a part is stale when its writer (same host) no longer runs, or when nothing has written
to it for a minute (a live save touches its file continuously; a pid can be reused, and a writer
on another host of a shared folder cannot be asked).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"
#: A part nobody has written to for this long is abandoned, whoever wrote it.
STALE_AFTER_S = 60.0
_HOST = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:40]
# ".take.mmfs.host~123~abcd1234.part" (this module), ".take.mmfs.abcd1234.part" (mkstemp, older builds)
_OURS = re.compile(r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9-]*)~(?P<pid>\d+)~[A-Za-z0-9_]+\.part$")
_LEGACY = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}\.part$")


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` through ``write(handle)`` so that the file under that name is always complete."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=part_prefix(out.name), suffix=PART_SUFFIX, dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def part_prefix(name: str, pid: int | None = None) -> str:
    """How the temp files of ``name`` written by ``pid`` (default: this process) start; a random tag follows."""
    return f".{name}.{_HOST}~{os.getpid() if pid is None else pid}~"


def part_target(part: Path) -> str | None:
    """The file name a temp file of :func:`atomic_write` was going to become (None: not one of ours)."""
    match = _OURS.match(part.name) or _LEGACY.match(part.name)
    return match.group("target") if match else None


def is_stale(part: Path, *, now: float | None = None, max_age_s: float = STALE_AFTER_S) -> bool:
    """Whether ``part`` is a leftover no writer will finish (see the module docstring)."""
    try:
        age = (time.time() if now is None else now) - part.stat().st_mtime
    except OSError:
        return False  # gone already, or unreadable: leave it
    if age > max_age_s:
        return True
    match = _OURS.match(part.name)
    return bool(match and match.group("host") == _HOST and not pid_alive(int(match.group("pid"))))


def sweep_stale_parts(folder: str | Path, suffixes: Iterable[str] = (), *, now: float | None = None,
                      max_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the stale temp files of killed atomic writes in ``folder``; returns what was removed.

    ``suffixes`` limits the sweep to targets with those suffixes (e.g. ``(".mmfs",)`` when a
    project is opened or saved there): other programs' files and other writers' temp files are
    never touched. Never raises: a read-only folder or a file that vanished meanwhile is skipped.
    """
    wanted = tuple(s.lower() for s in suffixes)
    removed: list[Path] = []
    try:
        candidates = [p for p in Path(folder).iterdir() if p.name.startswith(".") and p.name.endswith(PART_SUFFIX)]
    except OSError:
        return removed
    for part in candidates:
        target = part_target(part)
        if target is None or (wanted and not target.lower().endswith(wanted)):
            continue
        if is_stale(part, now=now, max_age_s=max_age_s):
            try:
                part.unlink()
            except OSError:
                continue
            removed.append(part)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine; True when that cannot be told (the age rule decides then)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        try:
            import psutil
        except ImportError:
            return True
        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True
