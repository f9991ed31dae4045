"""Audio playback for the timeline preview, with the sound card's clock as the master clock.

Why the audio leads: a preview that advances the picture by wall time and plays the sound beside it
drifts apart (the DAC's crystal is not the system clock, an underrun plays silence and pushes the
sound late, a busy GUI thread delays the stream's start), and animators judge lip-sync to a frame.
So the picture asks :meth:`AudioPlayer.position` which sample the listener hears *now*.

How ``position()`` is computed. Every PortAudio callback hands the device the stream frames
``f .. f + n`` and reports, through ``time.outputBufferDacTime``, when frame ``f`` reaches the DAC.
The callback converts that moment to ``time.monotonic`` (reading ``stream.time`` and the monotonic
clock back to back, so the gap between PortAudio taking its timestamp and Python getting the GIL does
not count) and keeps ``z``: the monotonic time at which stream frame 0 is heard. ``z`` combines the
reported DAC time (right on average, but it wanders by milliseconds through some host paths) with
the callback times (exact but only ever late, so their recent minimum is steady); ``_observe`` says
how. Between callbacks the heard stream frame is ``(now - z) * rate``: it advances smoothly, and it
follows the device because ``z`` is re-measured on every callback. Stream frames map to clip
frames through a small ring of segments (start, loop range), so a loop wrap or a loop change made
while buffered audio is still in flight is reported when it is heard, not when it is computed.

Callbacks that arrive in a burst right after ``start()`` (PortAudio filling the device buffer) are
not trusted: a sound server may only start consuming hundreds of milliseconds later (PulseAudio's
null sink does), and until a paced callback confirms the timing the position holds at the start.

When there is no usable device (PortAudio missing, no output, a named device that is not there, an
error or a stall mid-play) the player keeps going on ``time.monotonic`` and says so in ``status``;
it never raises into the GUI for a device problem. ``on_status`` callbacks and every public method
run on the caller's (GUI) thread; the PortAudio thread only sets flags.

Choosing the device, the rate and the channel count, and converting the clip for it, happen once
per load and live in :mod:`mmface_studio.audio.output_device` (re-exported here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mmface_studio.audio.output_device import (  # re-exported: the player's public API since it began
    NoOutputError,
    OutputDevice,
    choose_channels,
    close_quietly,
    find_output_device,
    list_output_devices,
    negotiate_rate,
    portaudio,
    prepare_output,
    supported,
)

DEFAULT_LATENCY_S = 0.1  # enough headroom for a GUI thread that holds the GIL for a frame or two
MIN_LOOP_S = 0.01  # shorter loops would make the callback loop over tiny pieces
_RING = 16  # segments kept for mapping heard frames; far more than can change within one latency
_REANCHOR_S = 0.005  # a timing jump larger than this is an xrun or a restart, not jitter
_ENVELOPE_S = 2.0  # how far back the earliest callback is looked for
_ENVELOPE_MAX = 256  # callbacks in that window at most (preallocated)
_RECENT_S = 0.25  # if every callback this recent is late, the device's timeline itself moved
_SHIFT_S = 0.005  # ... by at least this much
_CALIBRATE_S = 1.0  # the buffer lead is averaged over this long after a start, then only drifts
_LEAD_TAU_S = 30.0  # time constant of that drift

__all__ = ["AudioPlayer", "NoOutputError", "OutputDevice", "choose_channels", "find_output_device",
           "list_output_devices", "negotiate_rate", "prepare_output"]

Segment = tuple[int, int, int, int]  # stream frame, clip frame there, loop start, loop end (-1: no loop)


def _clip_frame(seg: Segment, stream_frame: float) -> float:
    """Clip frame played at ``stream_frame`` within a segment; loops wrap once the loop end is passed."""
    f0, p0, start, end = seg
    p = p0 + (stream_frame - f0)
    if end > start and p0 < end and p >= end:
        p = start + (p - start) % (end - start)
    return p


class AudioPlayer:
    """Plays one clip through PortAudio and reports the heard position; the transport's time source.

    ``position()`` is in clip seconds. ``set_length`` makes the timeline longer (silence) or shorter
    than the clip; ``set_loop`` repeats a range seamlessly inside the callback. See the module
    docstring for the timing model and the fallback to wall-clock time.
    """

    def __init__(self, device: str | int | None = None, *, latency_s: float = DEFAULT_LATENCY_S,
                 rate: int | None = None, clock: Callable[[], float] = time.monotonic,
                 stall_timeout_s: float = 3.0) -> None:
        self.on_status: list[Callable[[str], None]] = []
        self.status = ""
        self.device_name = ""
        self._device_request = device
        self._latency_request = latency_s
        self._rate_request = rate
        self._clock = clock
        self._stall_timeout = stall_timeout_s
        self._stream: Any = None
        self._nominal_latency = 0.0
        self._silent = True
        self._buf = np.zeros((0, 2), np.float32)
        self._rate = 48_000
        self._length = 0
        self._length_s: float | None = None
        self._loop_s: tuple[float, float] | None = None
        self._loop: tuple[int, int] | None = None
        self._playing = False
        self._paused_at = 0.0
        self._wall_origin = 0.0
        self._last_heard = 0.0
        # written by the PortAudio thread (or by play() while the stream is stopped)
        self._ring: list[Segment] = [(0, 0, -1, -1)] * _RING
        self._seg_count = 1
        self._cur: Segment = (0, 0, -1, -1)
        self._pending: tuple[tuple[int, int] | None] = (None,)
        self._applied = self._pending
        self._f = 0
        self._p = 0
        self._z: float | None = None
        self._env = np.full(_ENVELOPE_MAX, np.inf)  # recent values of (callback time - frames / rate)
        self._env_n = 1
        self._recent = np.full(_ENVELOPE_MAX, np.inf)
        self._recent_n = 1
        self._env_i = 0
        self._lead = 0.0
        self._paced = 0
        self._last_cb = 0.0
        self._ahead = 0.0
        self._callbacks = 0
        self._xruns = 0
        self._reanchors = 0
        self._finished = False
        self._stopping = False
        self._generation = 0  # which stream the PortAudio callbacks belong to; an old one is ignored

    # ------------------------------------------------------------------ public state

    @property
    def playing(self) -> bool:
        """True until ``pause()`` or until the heard position reaches the end (without a loop)."""
        if self._playing:
            self.position()
        return self._playing

    @property
    def duration(self) -> float:
        """Length of the loaded clip in seconds."""
        return self._buf.shape[0] / self._rate

    @property
    def length(self) -> float:
        """Length of the timeline in seconds (the clip, unless ``set_length`` changed it)."""
        return self._length / self._rate

    @property
    def rate(self) -> int:
        """The output rate: the device's if a device is open, else the clip's."""
        return self._rate

    @property
    def silent(self) -> bool:
        """True when no device plays and the position follows the monotonic clock."""
        return self._silent

    @property
    def latency_s(self) -> float:
        """Time from handing a sample to PortAudio to hearing it, as last measured (nominal before)."""
        if self._silent:
            return 0.0
        return self._ahead if self._z is not None else self._nominal_latency

    def stats(self) -> dict[str, float | int | str]:
        """Counters for benchmarks and bug reports."""
        return {"device": self.device_name, "rate": self._rate, "latency_s": self.latency_s,
                "callbacks": self._callbacks, "xruns": self._xruns, "reanchors": self._reanchors,
                "silent": self._silent}

    # ------------------------------------------------------------------ transport

    def load(self, samples: np.ndarray, rate: int) -> None:
        """Take a clip (frames x channels float32, or mono) and open the output for it.

        The device is chosen and the clip converted here, once; a device problem leaves the player
        working silently with ``status`` saying why.
        """
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0 or rate <= 0:
            raise ValueError(f"expected frames x channels samples and a positive rate, got {x.shape} at {rate}")
        self.close()
        out_rate, out_channels, status = self._open(int(rate), x.shape[1])
        self._buf = prepare_output(x, int(rate), out_rate, out_channels)
        self._rate = out_rate
        self._paused_at = 0.0
        self._rescale()
        self._set_status(status)

    def play(self, from_seconds: float | None = None) -> None:
        """Start (or restart) from ``from_seconds``, or from the current position.

        Without an open device (never found, lost mid-play, closed) it tries to open one first: the
        user may have plugged it back in.
        """
        seconds = self.position() if from_seconds is None else from_seconds
        if self._playing:
            self._stop_stream()
            self._playing = False
        if self._stream is None and self._buf.shape[0]:
            self._reopen()
        start = min(max(seconds * self._rate, 0.0), float(self._length))
        if start >= self._length and self._loop is None:
            start = 0.0
        self._reset_timeline(int(round(start)))
        self._playing = True
        if self._stream is not None:
            self._last_cb = self._clock()
            self._finished = self._stopping = False
            try:
                self._stream.start()
                return
            except Exception as exc:  # PortAudio reports device errors as PortAudioError
                self._lose_device(f"could not start: {exc}", heard=0.0)
        self._wall_origin = self._clock()

    def pause(self) -> None:
        """Stop at the sample being heard now; buffered audio is dropped, not played out."""
        if not self._playing:
            return
        seconds = self.position()
        if self._playing:
            self._stop_stream()
            self._playing = False
            self._paused_at = seconds * self._rate

    def seek(self, seconds: float) -> None:
        """Jump; while playing the device buffer is flushed so the old audio is not heard first."""
        if self._playing:
            self.play(seconds)
        else:
            self._paused_at = min(max(seconds * self._rate, 0.0), float(self._length))

    def set_loop(self, start_s: float = 0.0, end_s: float | None = None) -> None:
        """Repeat ``start_s .. end_s`` seamlessly (``end_s=None``: no loop); applies mid-play too."""
        if end_s is not None and end_s <= start_s:
            raise ValueError(f"loop end {end_s} s must be after its start {start_s} s")
        self._loop_s = None if end_s is None else (max(start_s, 0.0), end_s)
        self._loop = None if self._loop_s is None else self._loop_frames(*self._loop_s)
        if not self._playing:
            return
        if self._silent:
            self._push_segment(int(self._heard_frames()), self._loop)
        else:
            self._pending = (self._loop,)  # the callback applies it at its next buffer

    def set_length(self, seconds: float | None) -> None:
        """Timeline length (None: the clip's). Past the clip it plays silence; without a loop it stops here.

        Kept in seconds, so it survives loading another clip and a change of output rate.
        """
        self._length_s = seconds
        self._rescale()

    def position(self) -> float:
        """Clip time in seconds of the sample the listener hears now (monotonic while playing)."""
        if not self._playing:
            return self._paused_at / self._rate
        h = self._heard_frames()
        seg = self._segment_for(h)
        p = _clip_frame(seg, h)
        if p >= self._length and not (seg[3] > seg[2] and seg[1] < seg[3]):
            self._stop_stream()
            self._playing = False
            self._paused_at = float(self._length)
            return self.length
        return p / self._rate

    def close(self) -> None:
        """Stop and release the device (the clip stays loaded; ``play`` reopens it)."""
        self.pause()
        stream, self._stream = self._stream, None
        self._silent = True
        if stream is not None:
            close_quietly(stream)

    def __enter__(self) -> AudioPlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ device

    def _open(self, clip_rate: int, clip_channels: int) -> tuple[int, int, str]:
        """Open a stream for the clip: (output rate, output channels, status message)."""
        self._silent = True
        self.device_name = ""
        try:
            sd = portaudio()
            dev = find_output_device(sd, self._device_request)
            self.device_name = dev.name
            out_ch = choose_channels(clip_channels, dev.max_channels,
                                     lambda c: supported(sd, dev.index, c, dev.default_rate))
            out_rate = None if out_ch is None else negotiate_rate(
                clip_rate, dev.default_rate, lambda r: supported(sd, dev.index, out_ch, r), self._rate_request)
            if out_ch is None or out_rate is None:
                raise NoOutputError(f'Audio output "{dev.name}" accepts no usable format: playing silently.')
            self._generation += 1
            gen = self._generation
            self._stream = sd.OutputStream(
                device=dev.index, samplerate=out_rate, channels=out_ch, dtype="float32",
                latency=self._latency_request,
                callback=lambda out, frames, t, status: self._callback(out, frames, t, status, gen),
                finished_callback=lambda: self._on_finished(gen),
            )
        except NoOutputError as exc:
            return clip_rate, clip_channels, str(exc)
        except Exception as exc:  # PortAudioError, or a device that vanished between query and open
            message = f'Could not open audio output "{self.device_name}" ({exc}): playing silently.'
            return clip_rate, clip_channels, message
        self._nominal_latency = float(self._stream.latency)
        self._silent = False
        return out_rate, out_ch, ""

    def _reopen(self) -> None:
        rate, channels, status = self._open(self._rate, self._buf.shape[1])
        if not self._silent and (rate, channels) != (self._rate, self._buf.shape[1]):
            # the device wants another format than the buffer has: convert it (once) rather than play it wrong
            self._buf = prepare_output(self._buf, self._rate, rate, channels)
            self._rate = rate
            self._rescale()
        self._set_status(status)

    def _stop_stream(self) -> None:
        if self._stream is None or self._silent:
            return
        self._stopping = True
        try:
            self._stream.abort()
        except Exception as exc:
            self._lose_device(f"could not stop: {exc}", heard=self._last_heard)

    def _on_finished(self, gen: int) -> None:
        """PortAudio thread: the stream ended; unexpected unless we asked it to stop."""
        if gen == self._generation and not self._stopping:
            self._finished = True

    def _lose_device(self, why: str, heard: float) -> None:
        """Switch to wall-clock time at the current heard frame so the picture does not jump."""
        if not self._silent:
            self._silent = True
            stream, self._stream = self._stream, None
            self._generation += 1
            if stream is not None:  # a hung device may block abort(): never on the GUI thread
                threading.Thread(target=close_quietly, args=(stream,), daemon=True).start()
            self._set_status(f'Audio output "{self.device_name}" stopped ({why}): playing silently.')
        if self._pending is not self._applied:
            self._applied = self._pending
            self._push_segment(int(heard), self._pending[0])
        self._wall_origin = self._clock() - heard / self._rate

    def _set_status(self, message: str) -> None:
        if message != self.status:
            self.status = message
            for callback in list(self.on_status):
                callback(message)

    # ------------------------------------------------------------------ timeline

    def _rescale(self) -> None:
        """Length and loop in frames of the current output rate, from their values in seconds."""
        clip = self._buf.shape[0]
        self._length = clip if self._length_s is None else max(int(round(self._length_s * self._rate)), 1)
        self._loop = None if self._loop_s is None else self._loop_frames(*self._loop_s)

    def _loop_frames(self, start_s: float, end_s: float) -> tuple[int, int]:
        start = int(round(start_s * self._rate))
        return start, max(int(round(end_s * self._rate)), start + int(MIN_LOOP_S * self._rate))

    def _reset_timeline(self, start: int) -> None:
        """Stream frame 0 plays clip frame ``start``; only called while no callback runs."""
        ls, le = self._loop if self._loop is not None else (-1, -1)
        self._cur = (0, start, ls, le)
        self._ring[0] = self._cur
        self._seg_count = 1
        self._applied = self._pending = (self._loop,)
        self._f, self._p = 0, start
        self._z = None
        self._env.fill(np.inf)
        self._recent.fill(np.inf)
        self._env_i = self._paced = 0
        self._last_heard = 0.0

    def _push_segment(self, stream_frame: int, loop: tuple[int, int] | None) -> None:
        """From ``stream_frame`` on, keep playing from the same clip frame with a new loop range."""
        p = int(round(_clip_frame(self._cur, stream_frame)))
        ls, le = loop if loop is not None else (-1, -1)
        self._cur = (stream_frame, p, ls, le)
        self._ring[self._seg_count % _RING] = self._cur
        self._seg_count += 1
        self._p = p

    def _segment_for(self, h: float) -> Segment:
        count = self._seg_count
        for k in range(count - 1, max(count - _RING, 0) - 1, -1):
            seg = self._ring[k % _RING]
            if seg[0] <= h:
                return seg
        return self._ring[(count - 1) % _RING]

    def _heard_frames(self) -> float:
        """Stream frames heard so far, never going back while playing."""
        now = self._clock()
        if not self._silent:
            z = self._z
            if self._finished:
                self._lose_device("device error", self._last_heard)
            elif now - self._last_cb > self._stall_timeout:
                self._lose_device("no response", self._last_heard)
            else:
                h = 0.0 if z is None else min((now - z) * self._rate, float(self._f))
                self._last_heard = h = max(h, self._last_heard)
                return h
        self._last_heard = h = max((now - self._wall_origin) * self._rate, self._last_heard)
        return h

    # ------------------------------------------------------------------ PortAudio thread

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any, gen: int) -> None:
        """Fill ``outdata`` from the prepared buffer; no allocation beyond views, no locks, no waits."""
        if gen != self._generation:  # a lost stream still closing in the background
            outdata.fill(0.0)
            return
        now = self._clock()
        try:
            ahead = time_info.outputBufferDacTime - self._stream.time
        except Exception:
            ahead = time_info.outputBufferDacTime - time_info.currentTime
        underflow = bool(status.output_underflow)
        self._xruns += underflow
        pending = self._pending
        if pending is not self._applied:
            self._applied = pending
            self._push_segment(self._f, pending[0])
        self._fill(outdata, frames)
        self._observe(now, ahead, frames, underflow)
        self._f += frames
        self._last_cb = now
        self._callbacks += 1

    def _fill(self, out: np.ndarray, frames: int) -> None:
        buf, n = self._buf, self._buf.shape[0]
        _, p0, start, end = self._cur
        looping = end > start and p0 < end
        p, i = self._p, 0
        while i < frames:
            boundary = end if looping else self._length
            if p >= boundary:
                if not looping:
                    out[i:] = 0.0
                    break
                p = start
                continue
            count = min(frames - i, boundary - p)
            have = max(0, min(count, n - p))
            if have:
                out[i : i + have] = buf[p : p + have]
            if have < count:
                out[i + have : i + count] = 0.0
            i += count
            p += count
        self._p = p

    def _observe(self, now: float, ahead: float, frames: int, underflow: bool) -> None:
        """Update ``z``, the monotonic time at which stream frame 0 is heard.

        Two measurements, each good at one thing. The DAC time PortAudio reports is right on average
        but, through ALSA's PulseAudio plugin, wanders by 5-20 ms over seconds when the CPU is busy
        (libpulse's latency interpolation). The moment a callback fires, minus the frames handed over
        so far, follows the device's consumption exactly but only ever arrives late (scheduling, the
        GIL): its minimum over the last two seconds is steady to a millisecond or two. So ``z`` is that
        minimum plus the buffer lead (DAC time minus callback time), averaged over the first second
        after a start and then followed only slowly. When every callback of the last quarter second
        is late, the device really played later (a sound server that underran and inserted silence
        without telling PortAudio): the window restarts from those callbacks.
        """
        if not 0.0 <= ahead < 2.0:  # a host API that leaves the DAC time empty
            ahead = self._nominal_latency
        self._ahead = ahead
        if underflow:  # the device played silence: the old callback times no longer apply
            self._env.fill(np.inf)
        period = frames / self._rate
        if now - self._last_cb < 0.25 * period:
            return  # a burst (priming, catching up): the device may not be consuming at this pace
        if self._paced == 0:
            self._env_n = min(max(int(_ENVELOPE_S / period), 4), _ENVELOPE_MAX)
            self._recent_n = min(max(int(_RECENT_S / period), 3), self._env_n)
        c = now - self._f / self._rate
        self._env[self._env_i % self._env_n] = c
        self._recent[self._paced % self._recent_n] = c
        self._env_i += 1
        self._paced += 1
        envelope = float(self._env[: self._env_n].min())
        recent = float(self._recent[: self._recent_n].min())
        if self._paced >= self._recent_n and recent > envelope + _SHIFT_S:
            self._env.fill(np.inf)
            self._env[: self._recent_n] = self._recent[: self._recent_n]
            self._env_i = self._recent_n
            envelope = recent
        lead = c + ahead - envelope
        if self._paced == 1:
            self._lead = lead
        elif self._paced * period < _CALIBRATE_S:
            self._lead += (lead - self._lead) / self._paced
        else:
            self._lead += (lead - self._lead) * period / _LEAD_TAU_S
        z = envelope + self._lead
        self._reanchors += self._z is not None and abs(z - self._z) > _REANCHOR_S
        self._z = z
