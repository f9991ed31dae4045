"""A virtual microphone: sound played into the private PulseAudio null sink comes back on its monitor.

The server of :mod:`tests.audio.pulse` already makes the sink's ``.monitor`` the default source, so
PortAudio's ``pulse`` input device records exactly what is played into the sink. A test plays
speech (espeak-ng) or clicks into the sink with ``pacat`` -- a separate client, like a person
speaking into a real microphone -- while the code under test captures through sounddevice ->
PortAudio -> ALSA ``pulse`` plugin -> PulseAudio, the same path a USB microphone takes.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from tests.audio.pulse import PulseServer


class SinkPlayer:
    """Plays one signal into the sink in a ``pacat`` subprocess (starts at once, ``wait`` for the end)."""

    def __init__(self, server: PulseServer, samples: np.ndarray, rate: int, latency_ms: int = 40) -> None:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if rate != server.rate:
            g = np.gcd(int(rate), int(server.rate))
            x = resample_poly(x, server.rate // g, int(rate) // g).astype(np.float32)
        frames = np.repeat(x[:, None], server.channels, axis=1)
        self.duration = x.size / server.rate
        with tempfile.NamedTemporaryFile(suffix=".raw", delete=False, dir=server.root) as f:
            frames.astype("<f4").tofile(f)
            self._file = Path(f.name)
        self._proc = subprocess.Popen(
            ["pacat", "--raw", "--format=float32le", f"--rate={server.rate}", f"--channels={server.channels}",
             f"--latency-msec={latency_ms}", "-d", server.sink, str(self._file)],
            env=server.client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def done(self) -> bool:
        """True once ``pacat`` has played everything and exited."""
        return self._proc.poll() is not None

    def wait(self, timeout: float | None = None) -> None:
        try:
            _, err = self._proc.communicate(timeout=timeout if timeout is not None else self.duration + 10)
        finally:
            self._file.unlink(missing_ok=True)
        if self._proc.returncode != 0:
            raise RuntimeError(f"pacat failed ({self._proc.returncode}): {err.decode(errors='replace')}")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()
        self._file.unlink(missing_ok=True)


def play_into_mic(server: PulseServer, samples: np.ndarray, rate: int) -> SinkPlayer:
    """Speak ``samples`` into the virtual microphone (returns at once; ``.wait()`` for the end)."""
    return SinkPlayer(server, samples, rate)


def speech(text: str, lead_s: float = 0.0, tail_s: float = 0.0, gain: float = 1.0) -> np.ndarray:
    """espeak-ng speech at 16 kHz with silence around it (deterministic)."""
    from mmface_studio.audio.phonetic_espeak import synthesize

    audio = synthesize(text).audio16k * gain
    return np.concatenate([np.zeros(int(lead_s * 16000), np.float32), audio.astype(np.float32),
                           np.zeros(int(tail_s * 16000), np.float32)])


def plosive(rate: int = 48_000, vowel_s: float = 0.15, f0: float = 120.0, level: float = 0.5) -> np.ndarray:
    """A synthetic /ba/: a 5 ms noise burst then an /a/ (glottal pulses through F1 750, F2 1200, F3 2500 Hz).

    Sample 0 is the burst: the onset a latency measurement times from.
    """
    from scipy.signal import lfilter

    rng = np.random.default_rng(8)
    burst = rng.standard_normal(int(0.005 * rate)) * 0.6
    n = int(vowel_s * rate)
    pulses = np.zeros(n)
    pulses[:: int(rate / f0)] = 1.0
    voice = pulses
    for freq, bw in ((750.0, 90.0), (1200.0, 110.0), (2500.0, 160.0)):
        r = np.exp(-np.pi * bw / rate)
        theta = 2 * np.pi * freq / rate
        voice = lfilter([1.0 - r], [1.0, -2 * r * np.cos(theta), r * r], voice)
    voice *= np.hanning(2 * int(0.02 * rate))[: int(0.02 * rate)].tolist() + [1.0] * (n - int(0.02 * rate))
    voice[-int(0.02 * rate):] *= np.hanning(2 * int(0.02 * rate))[int(0.02 * rate):]
    voice /= np.abs(voice).max()
    out = np.concatenate([burst, voice])
    return (level * out / np.abs(out).max()).astype(np.float32)
