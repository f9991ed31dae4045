"""A private PulseAudio server with a null sink, so audio tests play through the real PortAudio path.

Why a sound server and not a mock: the player's promise is about what a listener hears and when,
which only the device path can show. The null sink plays by the system's monotonic clock and its
``.monitor`` source hands back exactly what it played, so a test can record the output and compare
content and timing. PortAudio (19.6, ALSA host API) reaches the server through the ALSA ``pulse``
plugin (Debian package ``libasound2-plugins``).

The daemon runs in user mode with everything under one temporary folder (socket, runtime and state
paths, cookie, client config), so it never touches the developer's own sound server or home. As
root, PulseAudio only warns that it is "not intended to be run as root" and works; ``--system``
would need the ``pulse`` user, a fixed socket path and would serve every process on the machine.

A low-latency reader stays attached to the monitor for the server's lifetime: a null sink with no
client asking for low latency renders in blocks of up to 2 s and only notices a new stream at the
end of the block, which delays a stream's start by up to 2 s (a hardware sink reacts at once).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

APT_PACKAGES = ("pulseaudio", "pulseaudio-utils", "libasound2-plugins")


class PulseError(RuntimeError):
    """The private server could not be started."""


def missing_tools() -> str | None:
    """Why the virtual device cannot be made here, or None when it can."""
    missing = [tool for tool in ("pulseaudio", "parec", "pactl") if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not installed: audio device tests need a private PulseAudio server "
                f"(apt-get install {' '.join(APT_PACKAGES)})")
    return None


@dataclass
class Recording:
    """What the null sink played, with the monotonic time at which it played sample 0.

    ``t0`` comes from arrival times: a block ending at sample ``n`` that arrives at monotonic time
    ``a`` was played no later than ``a``, so ``t0 <= a - n / rate``; the tightest bound over all
    blocks is taken. The null sink renders up to one block (its latency, a few ms with the monitor
    reader asking for 2 ms) ahead of its clock, so ``t0`` is accurate to a few milliseconds; it does
    not drift, because the null sink plays by the monotonic clock.
    """

    samples: np.ndarray  # frames x channels float32
    rate: int
    t0: float

    def time_of(self, index: np.ndarray | float) -> np.ndarray | float:
        """Monotonic time at which recorded sample ``index`` was played."""
        return self.t0 + np.asarray(index) / self.rate


class MonitorRecorder:
    """Records the sink's monitor with ``parec`` in raw float32; arrival times give the timeline."""

    def __init__(self, server: PulseServer, latency_ms: int = 2, keep: bool = True) -> None:
        self._server = server
        self._keep = keep
        self._chunks: list[bytes] = []
        self._arrivals: list[tuple[float, int]] = []
        self._frame_bytes = 4 * server.channels
        self._proc = subprocess.Popen(
            ["parec", "--raw", "--format=float32le", f"--rate={server.rate}", f"--channels={server.channels}",
             f"--latency-msec={latency_ms}", "-d", f"{server.sink}.monitor"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=server.client_env(), bufsize=0,
        )
        self._thread = threading.Thread(target=self._read, name="monitor-recorder", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        total = 0
        assert self._proc.stdout is not None
        while True:
            data = self._proc.stdout.read(1 << 14)
            if not data:
                break
            now = time.monotonic()
            total += len(data)
            if self._keep:
                self._chunks.append(data)
            self._arrivals.append((now, total // self._frame_bytes))

    def wait_steady(self, timeout: float = 5.0, spacing: float = 0.05) -> bool:
        """Wait until blocks arrive at low latency (the sink has taken the monitor's latency request)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = [t for t, _ in self._arrivals[-6:]]
            if len(times) == 6 and max(np.diff(times)) < spacing:
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> Recording:
        """Stop recording and return what was played since the recorder started."""
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._thread.join(timeout=5)
        raw = b"".join(self._chunks)
        usable = len(raw) - len(raw) % self._frame_bytes
        samples = np.frombuffer(raw[:usable], dtype="<f4").reshape(-1, self._server.channels).copy()
        arrivals = np.asarray(self._arrivals, dtype=np.float64).reshape(-1, 2)
        t0 = float(np.min(arrivals[:, 0] - arrivals[:, 1] / self._server.rate)) if len(arrivals) else float("nan")
        return Recording(samples, self._server.rate, t0)


class PulseServer:
    """A PulseAudio daemon of our own: one null sink, a unix socket, all state under ``root``."""

    def __init__(self, root: Path, *, sink: str = "mmface_test", rate: int = 48_000, channels: int = 2) -> None:
        self.root = Path(root)
        self.sink = sink
        self.rate = rate
        self.channels = channels
        self.socket = self.root / "native"
        self._proc: subprocess.Popen[bytes] | None = None
        self._keepalive: MonitorRecorder | None = None

    @property
    def server(self) -> str:
        return f"unix:{self.socket}"

    def client_env(self) -> dict[str, str]:
        """Environment for a client process (the test process itself, parec, a subprocess)."""
        env = dict(os.environ)
        env.update(self.client_vars())
        return env

    def client_vars(self) -> dict[str, str]:
        return {
            "PULSE_SERVER": self.server,
            "PULSE_RUNTIME_PATH": str(self.root / "runtime"),
            "PULSE_COOKIE": str(self.root / "cookie"),
            "PULSE_CLIENTCONFIG": str(self.root / "client.conf"),  # autospawn = no
        }

    def start(self, timeout: float = 10.0) -> None:
        """Start the daemon, wait until it answers, and attach the low-latency monitor reader."""
        for sub in ("runtime", "state", "config"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "client.conf").write_text("autospawn = no\n")
        script = self.root / "default.pa"
        script.write_text(
            f"load-module module-null-sink sink_name={self.sink} rate={self.rate} channels={self.channels} "
            f"format=float32le\n"
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1\n"
            f"set-default-sink {self.sink}\n"
            f"set-default-source {self.sink}.monitor\n"
        )
        env = self.client_env()
        env.update(HOME=str(self.root), XDG_CONFIG_HOME=str(self.root / "config"),
                   PULSE_STATE_PATH=str(self.root / "state"))
        env.pop("PULSE_SERVER")
        log = open(self.root / "pulse.log", "wb")  # noqa: SIM115 - the daemon keeps writing to it
        # high priority (nice -11 as root; ignored otherwise), as desktops give it through rtkit, so that
        # a busy test machine starves the sound server less
        self._proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "-F", str(script), "--use-pid-file=no",
             "--system=no", "--realtime=yes", "--high-priority=yes", "--log-target=stderr"],
            env=env, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.root / "pulse.log").read_text(errors="replace")[-2000:]
                raise PulseError(f"pulseaudio did not come up:\n{tail}")
            time.sleep(0.05)
        self._keepalive = MonitorRecorder(self, latency_ms=5, keep=False)
        if not self._keepalive.wait_steady(timeout=timeout):
            self.stop()
            raise PulseError("the null sink's monitor never delivered audio")

    def _answers(self) -> bool:
        result = subprocess.run(["pactl", "info"], env=self.client_env(), capture_output=True, timeout=5)
        return result.returncode == 0 and self.sink.encode() in result.stdout

    def kill(self) -> None:
        """SIGKILL the daemon: what a crashed sound server or a vanished device looks like to a client."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def record(self, latency_ms: int = 2) -> MonitorRecorder:
        """Start recording what the sink plays; ``stop()`` on the result returns a ``Recording``."""
        recorder = MonitorRecorder(self, latency_ms=latency_ms)
        recorder.wait_steady()
        return recorder

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Point this process's PortAudio at the server, and restore the environment afterwards.

        PortAudio lists devices once, when sounddevice is imported; when it was imported before the
        server existed it is re-initialised so that the ``pulse`` device appears.
        """
        saved = {k: os.environ.get(k) for k in self.client_vars()}
        os.environ.update(self.client_vars())
        _rescan_portaudio()
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            _rescan_portaudio()


def _rescan_portaudio() -> None:
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


def portaudio_output_names() -> list[str]:
    """Output device names PortAudio sees in this process."""
    import sounddevice as sd

    return [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
