"""Microphone capture through PortAudio (sounddevice) for the live lip-sync preview.

The PortAudio callback does as little as possible and never waits: it copies the block (mono) into
a lock-free ring (:mod:`ring_buffer`), notes when it arrived and when PortAudio says it was
captured, and counts overflows. Everything else -- resampling to 16 kHz, the level meter, health
checks -- runs in :meth:`MicCapture.read` on the consumer's thread (the live analysis worker).

Sample rate: the device is asked for a rate it accepts, preferring one that the sound server need
not convert (48 kHz, then the device's default, then 44.1 kHz, 32 kHz, 16 kHz; a rate the user asked
for comes first). Measured through PulseAudio, asking for 16 kHz directly costs ~10 ms more input
latency than 48 kHz plus our own resampling, because the server's resampler buffers more than ours
(:class:`~mmface_studio.audio.stream_dsp.StreamResampler`, 0.6 ms).

Failures are :class:`CaptureError` subclasses with a sentence for the user: no input device, the
named device missing, access refused by the system, no rate the device will give. A device that
disappears mid-take (unplugged, sound server gone) is noticed by :meth:`MicCapture.read` -- PortAudio
either finishes the stream or simply stops calling back -- and reported as :class:`DeviceLostError`;
the samples that arrived before stay readable, so nothing recorded is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmface_studio.audio.output_device import negotiate_rate, pick_device_index, portaudio
from mmface_studio.audio.ring_buffer import BlockTimes, SampleRing
from mmface_studio.audio.stream_dsp import LevelMeter, StreamResampler

ANALYSIS_RATE = 16_000
DEFAULT_BLOCK_S = 0.01
DEFAULT_RING_S = 4.0
#: Rates tried after a requested one: no server-side conversion first (see module docstring).
RATE_PREFERENCE = (48_000, 44_100, 32_000, 16_000, 96_000, 22_050, 8_000)
MIN_INPUT_RATE = 8_000
_PERMISSION_HINTS = ("permission", "not permitted", "access denied", "-13]", "unauthorized", "privacy")


@dataclass(frozen=True)
class InputDevice:
    """A PortAudio input device, for a device picker."""

    index: int
    name: str
    default_rate: int
    max_channels: int
    host_api: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.host_api})" if self.host_api else self.name


class CaptureError(Exception):
    """Live input cannot run; the message is what the user reads."""


class NoInputError(CaptureError):
    """PortAudio is missing, there is no input device, or the named one is not there."""


class MicPermissionError(CaptureError):
    """The system refused access to the microphone."""


class UnsupportedRateError(CaptureError):
    """The device accepts none of the rates we can analyse."""


class DeviceLostError(CaptureError):
    """The device stopped delivering audio mid-stream."""


def _portaudio() -> Any:
    """sounddevice, or :class:`NoInputError` when PortAudio cannot be loaded."""
    return portaudio(lambda reason: NoInputError(f"Microphone input is unavailable: PortAudio could not be loaded "
                                                 f"({reason})."))


def _host_names(sd: Any) -> list[str]:
    try:
        return [str(h["name"]) for h in sd.query_hostapis()]
    except Exception:
        return []


def _describe(sd: Any, index: int, d: Any, hosts: list[str]) -> InputDevice:
    host = hosts[d["hostapi"]] if 0 <= int(d.get("hostapi", -1)) < len(hosts) else ""
    return InputDevice(index, str(d["name"]), int(d["default_samplerate"]), int(d["max_input_channels"]), host)


def list_input_devices() -> list[InputDevice]:
    """Input devices PortAudio knows (for the device picker); empty when PortAudio itself is missing.

    PortAudio lists devices once, when it is loaded: a microphone plugged in later appears after a
    restart of the application.
    """
    try:
        sd = _portaudio()
        devices = list(sd.query_devices())
    except Exception:
        return []
    hosts = _host_names(sd)
    return [_describe(sd, i, d, hosts) for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def find_input_device(sd: Any, request: str | int | None) -> InputDevice:
    """The device to open: PortAudio's default input, an index, or a name (exact, then a substring)."""
    devices = list(sd.query_devices())
    inputs = [i for i, d in enumerate(devices) if d["max_input_channels"] > 0]
    hosts = _host_names(sd)
    if not inputs:
        raise NoInputError("No microphone found. Connect one (or enable it in the system's sound settings) and "
                           "restart MMFace Studio: audio devices are listed when it starts.")
    index = pick_device_index(devices, inputs, request, sd.default.device[0])
    if index is None:
        raise NoInputError(f'Microphone "{request}" not found. Pick another input device.')
    return _describe(sd, index, devices[index], hosts)


def negotiate_input_rate(device_rate: int, supports: Callable[[int], bool], preferred: int | None = None) -> int:
    """First rate the device accepts, in :data:`RATE_PREFERENCE` order (``preferred`` first).

    Reuses the output side's negotiation (requested, then no conversion, then the device default)
    and goes on through the rates a USB headset or a telephony device may insist on. Rates under
    :data:`MIN_INPUT_RATE` are refused: they lose the consonants' energy that closes the jaw on /s/.
    """
    def usable(rate: int) -> bool:
        return rate >= MIN_INPUT_RATE and supports(rate)

    rate = negotiate_rate(RATE_PREFERENCE[0], device_rate, usable, preferred)
    if rate is None:
        rate = next((r for r in RATE_PREFERENCE if usable(r)), None)
    if rate is None:
        asked = f"{preferred} Hz, " if preferred else ""
        raise UnsupportedRateError(f"The microphone accepts none of the sample rates live mode can use ({asked}"
                                   f"{', '.join(str(r) for r in RATE_PREFERENCE)} Hz; at least "
                                   f"{MIN_INPUT_RATE} Hz).")
    return rate


def explain_open_error(exc: Exception, device: str) -> CaptureError:
    """Turn a PortAudio error at open/start into the user's sentence (permission, busy, other)."""
    text = str(exc)
    if any(hint in text.lower() for hint in _PERMISSION_HINTS):
        return MicPermissionError(
            f'Access to the microphone "{device}" was refused by the system. Allow MMFace Studio to use the '
            f"microphone (system privacy settings), then start live mode again. ({text})")
    if "unavailable" in text.lower() or "busy" in text.lower():
        return NoInputError(f'The microphone "{device}" is in use or unavailable ({text}). Close other programs '
                            "that record from it, or pick another input device.")
    return NoInputError(f'Could not open the microphone "{device}": {text}')


@dataclass
class CaptureChunk:
    """What :meth:`MicCapture.read` returns: new audio at the device rate and at 16 kHz.

    ``raw_start``/``start`` are the positions of the first sample in each stream (samples since
    :meth:`MicCapture.start`); the 16 kHz stream is the device stream rescaled (sample ``k`` is at
    time ``k / 16000`` like device sample ``k * rate / 16000``).
    """

    raw: np.ndarray
    raw_start: int
    audio: np.ndarray
    start: int


class MicCapture:
    """One microphone stream: ``start()``, then ``read()`` from one consumer thread, ``stop()``.

    ``device``: None (the system default), an index or a (part of a) name. ``rate``: a preferred
    device rate. ``block_s``: PortAudio block length (10 ms: the analysis hop). ``ring_s``: how far
    the consumer may fall behind before audio is dropped (counted in ``overflows``). ``history_s``:
    how far back :meth:`captured_at` can tell a sample's times.
    """

    def __init__(self, device: str | int | None = None, *, rate: int | None = None, block_s: float = DEFAULT_BLOCK_S,
                 ring_s: float = DEFAULT_RING_S, stall_timeout_s: float = 1.0, history_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._device_request = device
        self._rate_request = rate
        self._block_s = block_s
        self._ring_s = ring_s
        self._stall_timeout = stall_timeout_s
        self._history_s = history_s
        self._clock = clock
        self._stream: Any = None
        self.device = InputDevice(-1, "", 0, 0)
        self.rate = 0
        self.latency_s = 0.0  # PortAudio's input latency for the open stream
        self.ring = SampleRing(1)
        self.times = BlockTimes()
        self.meter = LevelMeter(ANALYSIS_RATE)
        self._resampler = StreamResampler(ANALYSIS_RATE, ANALYSIS_RATE)
        self._generation = 0
        self._last_cb = 0.0
        self._started_at = 0.0
        self._finished = False
        self._stopping = False
        self.portaudio_overflows = 0  # PortAudio's own "input overflow" flags (the host dropped audio)
        self.callbacks = 0
        self.delivered = 0  # frames PortAudio handed over (written to the ring or dropped)
        self.lost: str | None = None  # why the device stopped, once it has

    # ------------------------------------------------------------------ control

    @property
    def running(self) -> bool:
        return self._stream is not None and self.lost is None

    @property
    def overflows(self) -> int:
        """Blocks lost: the ring overflowed (we fell behind) or PortAudio reported an input overflow."""
        return self.ring.overflows + self.portaudio_overflows

    def start(self) -> None:
        """Open the device and start capturing; raises a :class:`CaptureError` with the reason."""
        self.stop()
        sd = _portaudio()
        dev = find_input_device(sd, self._device_request)
        self.device = dev

        def supports(rate: int) -> bool:
            try:
                sd.check_input_settings(device=dev.index, channels=1, dtype="float32", samplerate=rate)
            except Exception as exc:
                if any(hint in str(exc).lower() for hint in _PERMISSION_HINTS):
                    raise explain_open_error(exc, dev.name) from exc
                return False
            return True

        rate = negotiate_input_rate(dev.default_rate, supports, self._rate_request)
        if self._rate_request and rate != self._rate_request:
            raise UnsupportedRateError(f'The microphone "{dev.name}" does not give {self._rate_request} Hz '
                                       f"(it would give {rate} Hz). Choose another rate or leave it automatic.")
        self.rate = rate
        block = max(16, int(round(self._block_s * rate)))
        self.ring = SampleRing(max(int(self._ring_s * rate), 4 * block))
        self.times = BlockTimes(max(2048, int(self._history_s / (block / rate))))
        self.meter = LevelMeter(ANALYSIS_RATE)
        self._resampler = StreamResampler(rate, ANALYSIS_RATE)
        self.portaudio_overflows = self.callbacks = self.delivered = 0
        self.lost = None
        self._finished = self._stopping = False
        self._generation += 1
        gen = self._generation
        try:
            self._stream = sd.InputStream(
                device=dev.index, samplerate=rate, channels=1, dtype="float32", blocksize=block, latency="low",
                callback=lambda data, frames, t, status: self._callback(data, frames, t, status, gen),
                finished_callback=lambda: self._on_finished(gen))
            self.latency_s = float(self._stream.latency)
            self._last_cb = self._started_at = self._clock()
            self._stream.start()
        except CaptureError:
            raise
        except Exception as exc:  # PortAudioError, or a device that vanished between query and open
            stream, self._stream = self._stream, None
            if stream is not None:
                _close_quietly(stream)
            raise explain_open_error(exc, dev.name) from exc

    def stop(self) -> None:
        """Stop and release the device. Samples already captured stay readable."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        self._generation += 1
        _close_quietly(stream)

    def __enter__(self) -> MicCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ consumer

    def read(self) -> CaptureChunk:
        """Everything captured since the last read, resampled to 16 kHz; updates the level meter.

        Raises :class:`DeviceLostError` once, when the device has stopped delivering (after the
        audio it did deliver has been read); later calls return empty chunks.
        """
        raw_start = self.ring.consumed
        raw = self.ring.read()[:, 0]
        start = self._resampler.produced
        audio = self._resampler.process(raw) if raw.size else np.zeros(0, np.float32)
        self.meter.update(audio)
        if raw.size == 0 and self._stream is not None and self.lost is None:
            self._check_health()
        return CaptureChunk(raw, raw_start, audio, start)

    def _check_health(self) -> None:
        now = self._clock()
        why = None
        if self._finished:
            why = "the device stopped"
        elif now - self._last_cb > self._stall_timeout:
            why = f"no audio for {now - self._last_cb:.1f} s"
        if why is None:
            return
        self.lost = f'The microphone "{self.device.name}" stopped delivering audio ({why}): it was disconnected ' \
                    "or the sound system stopped. Live mode has stopped; what was recorded is kept."
        stream, self._stream = self._stream, None
        self._generation += 1
        if stream is not None:  # a hung device may block close(): never on the caller's thread
            threading.Thread(target=_close_quietly, args=(stream,), daemon=True).start()
        raise DeviceLostError(self.lost)

    def captured_at(self, sample16k: int) -> tuple[float, float] | None:
        """(arrival, capture) monotonic times of 16 kHz sample ``sample16k``, when its block is known.

        Capture time is PortAudio's ADC time of the block plus the sample's offset in it (through
        PulseAudio it agrees with an independent recording of the monitor to ~2 ms); arrival is when
        the callback handed the block over.
        """
        frame = int(sample16k * self.rate // ANALYSIS_RATE)
        hit = self.times.lookup(frame)
        if hit is None:
            return None
        arrival, first_captured, first_frame = hit
        return arrival, first_captured + (frame - first_frame) / self.rate

    # ------------------------------------------------------------------ PortAudio thread

    def _callback(self, data: np.ndarray, frames: int, time_info: Any, status: Any, gen: int) -> None:
        """Copy the block into the ring and note its times: no locks, no waits, no allocation but views."""
        if gen != self._generation:
            return
        now = self._clock()
        self.portaudio_overflows += bool(status.input_overflow)
        if self.ring.write(data[:, 0]):
            try:
                ahead = time_info.currentTime - time_info.inputBufferAdcTime
            except Exception:
                ahead = -1.0
            if not 0.0 < ahead < 1.0:  # a host API that leaves the ADC time empty: the block's own length
                ahead = frames / self.rate
            self.times.add(self.ring.written, now, now - ahead, self.ring.written - frames)
        self._last_cb = now
        self.callbacks += 1
        self.delivered += frames

    def _on_finished(self, gen: int) -> None:
        if gen == self._generation and not self._stopping:
            self._finished = True


def _close_quietly(stream: Any) -> None:
    try:
        stream.abort()
    except Exception:
        pass
    try:
        stream.close()
    except Exception:
        pass
