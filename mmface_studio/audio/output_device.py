"""Audio output devices and formats for the player: which device, which rate and channel count, the clip converted.

Separate from :mod:`player` (the timing model and the PortAudio callback) because none of this
runs while playing: it is decided once when a clip is loaded or a device reopened, and it is what
the live microphone's capture shares (rate negotiation). PortAudio is imported on first use only,
since importing ``sounddevice`` loads the library, which may be missing (the player then plays
silently and says why).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import resample_poly

__all__ = ["NoOutputError", "OutputDevice", "choose_channels", "close_quietly", "find_output_device",
           "list_output_devices", "negotiate_rate", "portaudio", "prepare_output", "supported"]

_FALLBACK_RATES = (48_000, 44_100)


@dataclass(frozen=True)
class OutputDevice:
    """A PortAudio output device as the player sees it."""

    index: int
    name: str
    default_rate: int
    max_channels: int


class NoOutputError(Exception):
    """Why no device can be used; the message is what the status line shows."""


def _no_output(reason: str) -> Exception:
    return NoOutputError(f"Audio output unavailable ({reason}): playing silently.")


def portaudio(missing: Callable[[str], Exception] = _no_output) -> Any:
    """Import sounddevice on first use: importing it loads PortAudio, which may be missing.

    ``missing`` turns the loader's reason into the caller's error (output: a silent-playback
    status; capture: "no microphone input"), so playback and capture share one loader.
    """
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        raise missing(str(exc)) from exc
    return sounddevice


def list_output_devices() -> list[OutputDevice]:
    """Output devices PortAudio knows (for a device menu); empty when PortAudio itself is missing.

    PortAudio lists devices once, when it is loaded: one plugged in later appears after a restart.
    """
    try:
        sd = portaudio()
        devices = list(sd.query_devices())
    except Exception:
        return []
    return [OutputDevice(i, str(d["name"]), int(d["default_samplerate"]), int(d["max_output_channels"]))
            for i, d in enumerate(devices) if d["max_output_channels"] > 0]


def pick_device_index(devices: list[Any], usable: list[int], request: str | int | None,
                      default: Any) -> int | None:
    """The one device-choice rule for input and output: the default, an index, or a name (exact, then a
    case-insensitive substring), among ``usable`` indices; None when nothing matches."""
    if request is None or request == "":
        return default if isinstance(default, int) and default in usable else (usable[0] if usable else None)
    if isinstance(request, int):
        return request if request in usable else None
    exact = [i for i in usable if devices[i]["name"] == request]
    partial = [i for i in usable if str(request).lower() in str(devices[i]["name"]).lower()]
    return (exact or partial or [None])[0]


def find_output_device(sd: Any, request: str | int | None) -> OutputDevice:
    """The device to open: PortAudio's default output, an index, or a name (exact, then a substring).

    Raises ``NoOutputError`` with the message for the status line when nothing matches.
    """
    devices = list(sd.query_devices())
    outputs = [i for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    index = pick_device_index(devices, outputs, request, sd.default.device[1])
    if index is None:
        if request is None or not outputs:
            raise NoOutputError("No audio output device: playing silently.")
        raise NoOutputError(f'Audio output device "{request}" not found: playing silently.')
    d = devices[index]
    return OutputDevice(index, str(d["name"]), int(d["default_samplerate"]), int(d["max_output_channels"]))


def negotiate_rate(clip_rate: int, device_rate: int, supports: Callable[[int], bool],
                   preferred: int | None = None) -> int | None:
    """First rate the device accepts: a preferred one, the clip's own (no resampling), the device's default."""
    candidates = [preferred, clip_rate, device_rate, *_FALLBACK_RATES]
    for rate in dict.fromkeys(r for r in candidates if r):
        if supports(rate):
            return rate
    return None


def choose_channels(clip_channels: int, max_channels: int, supports: Callable[[int], bool]) -> int | None:
    """Mono goes out as stereo (a one-channel stream plays on the left only on some raw devices)."""
    want = 2 if clip_channels == 1 and max_channels >= 2 else min(clip_channels, max_channels)
    for channels in dict.fromkeys((want, 2, 1)):
        if 0 < channels <= max_channels and supports(channels):
            return channels
    return None


def prepare_output(samples: np.ndarray, rate: int, out_rate: int, out_channels: int) -> np.ndarray:
    """The clip as the device will play it, built once at load so the callback only copies slices.

    More channels than the device has are averaged (a centre-channel dialogue track must not be
    dropped); mono is duplicated; the rate is converted with a polyphase filter, which is exact for
    the rational ratios real rates have (44100 -> 48000 is 160/147).
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] > out_channels:
        x = x.mean(axis=1, keepdims=True, dtype=np.float32)
    if rate != out_rate:
        g = math.gcd(int(rate), int(out_rate))
        x = resample_poly(x, out_rate // g, rate // g, axis=0).astype(np.float32, copy=False)
    if x.shape[1] != out_channels:
        x = np.repeat(x[:, :1], out_channels, axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def supported(sd: Any, device: int, channels: int, rate: int) -> bool:
    try:
        sd.check_output_settings(device=device, channels=channels, dtype="float32", samplerate=rate)
    except Exception:
        return False
    return True


def close_quietly(stream: Any) -> None:
    try:
        stream.abort()
    except Exception:
        pass
    try:
        stream.close()
    except Exception:
        pass
