"""Suite-wide setup: a real X server for the GUI tests and an isolated user cache.

GUI tests use the real vispy/OpenGL viewport (Mesa under Xvfb), never a mock.
``packaging/run.sh test`` runs pytest under ``xvfb-run``; when a developer runs
pytest without any display, an Xvfb is started here for the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

_xvfb: subprocess.Popen | None = None


def _start_xvfb() -> None:
    global _xvfb
    if os.environ.get("DISPLAY") or shutil.which("Xvfb") is None:
        return
    read_fd, write_fd = os.pipe()
    _xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = pipe.readline().strip()
    os.environ["DISPLAY"] = f":{display}"


def pytest_configure(config: pytest.Config) -> None:
    _start_xvfb()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    # Never read or write the developer's real cache (built rigs), settings (recent files) or
    # recovery folder from tests.
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mmface-test-cache-")
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="mmface-test-data-")
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="mmface-test-config-")


def pytest_unconfigure(config: pytest.Config) -> None:
    for key in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        shutil.rmtree(os.environ.get(key, ""), ignore_errors=True)
    if _xvfb is not None:
        _xvfb.terminate()
        _xvfb.wait(timeout=10)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED
