"""Fixtures for audio tests that need a real output device: a private PulseAudio null sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audio.pulse import APT_PACKAGES, PulseServer, missing_tools, portaudio_output_names


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """One private PulseAudio server for the session, with this process's PortAudio pointed at it.

    Skips (with the packages to install) when PulseAudio or the ALSA ``pulse`` plugin is missing;
    a server that is installed but fails to start is an error, not a skip.
    """
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    server = PulseServer(Path(tmp_path_factory.mktemp("pulse")))
    server.start()
    try:
        with server.activated():
            if "pulse" not in portaudio_output_names():
                pytest.skip("PortAudio does not list the ALSA 'pulse' device: the ALSA PulseAudio plugin is "
                            f"missing (apt-get install {' '.join(APT_PACKAGES)})")
            yield server
    finally:
        server.stop()


@pytest.fixture
def spare_pulse_server(tmp_path: Path, pulse_server: PulseServer) -> Iterator[PulseServer]:
    """A second, short-lived server that a test may kill (the session one must survive)."""
    server = PulseServer(tmp_path / "spare", sink="mmface_spare")
    server.start()
    try:
        yield server
    finally:
        server.stop()
