"""The live analysis worker: microphone -> streaming session -> newest frame, stats and recorded takes.

One thread (the "analysis worker") is the ring buffer's only consumer: it reads what the PortAudio
callback captured, pushes it through the :class:`~mmface_studio.engine.stream.StreamSession`,
publishes the newest frame for the viewport, measures latency, and appends to the take while
recording. The GUI (or a benchmark) only reads what the worker publishes -- single attribute
stores of immutable values, so no lock is needed -- and queues requests (record, stop, emotion,
style) that the worker applies, in order, between two chunks.

Latency of a frame, measured on every frame: from the moment its sound reached the microphone
(PortAudio's ADC time of the block, plus the sample's offset) to the moment the frame exists,
split into *buffer* (ADC to the callback handing the block over), *lookahead* (the audio after the
frame's time that its window needs) and *compute* (callback to frame). Frames later than
:data:`LATE_S` count as late; blocks the ring or PortAudio dropped count as dropped.

Robustness: a device that stops mid-take ends the worker cleanly; the take recorded so far is
finished with what arrived (``LiveTake.complete`` False) and kept for the caller, and the error
says what happened. Nothing here raises into the GUI after ``start``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmface_studio.audio.capture import ANALYSIS_RATE, CaptureError, MicCapture
from mmface_studio.core.performance import Performance
from mmface_studio.engine.stream import FRAME_RATE, StreamFrames, StreamSession, frames_to_performance
from mmface_studio.engine.stream_features import HOP

LATE_S = 0.12  # the p95 budget: a frame later than this is visibly behind the voice
STATS_EVERY_S = 0.1
_HISTORY = 256  # frames of latency kept for the median/p95 (2.5 s)


@dataclass(frozen=True)
class LiveStats:
    """A snapshot for the status bar and meters (all latency figures in milliseconds, None before data)."""

    running: bool = False
    recording: bool = False
    recorded_s: float = 0.0
    frames: int = 0
    latency_ms: float | None = None
    latency_p95_ms: float | None = None
    buffer_ms: float | None = None
    lookahead_ms: float | None = None
    compute_ms: float | None = None
    dropped: int = 0
    late: int = 0
    rms_db: float = -120.0
    peak_db: float = -120.0
    device: str = ""
    rate: int = 0
    error: str | None = None


@dataclass
class LiveTake:
    """A recorded take: the microphone audio (mono, device rate) and its frames at :data:`FRAME_RATE`."""

    audio: np.ndarray
    rate: int
    frames: np.ndarray
    complete: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    start: int = 0  # the 16 kHz stream sample where the take begins (frame start / HOP)

    @property
    def duration(self) -> float:
        return self.audio.size / self.rate if self.rate else 0.0

    def performance(self, fps: float) -> Performance:
        """The take's animation at ``fps`` (the project's), with how it was made in its provenance."""
        return frames_to_performance(self.frames, fps, {**self.info, "complete": self.complete})


class _Recorder:
    """The take being recorded: audio from 16 kHz sample ``start`` on, frames from ``start / HOP`` on."""

    def __init__(self, start: int, rate: int) -> None:
        self.start = start
        self.rate = rate
        self.raw_from = int(round(start * rate / ANALYSIS_RATE))
        self.audio: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.first_frame = start // HOP
        self.end: int | None = None  # 16 kHz sample where it stops, once asked to

    def add_audio(self, raw: np.ndarray, raw_start: int) -> None:
        skip = max(0, self.raw_from - raw_start)
        if self.end is not None:
            stop = int(round(self.end * self.rate / ANALYSIS_RATE)) - raw_start
            raw = raw[:max(stop, 0)]
        if skip < raw.size:
            self.audio.append(raw[skip:].copy())

    def add_frames(self, frames: StreamFrames) -> None:
        lo = max(0, self.first_frame - frames.start)
        hi = len(frames) if self.end is None else max(0, self.end // HOP - frames.start)
        if lo < hi:
            self.frames.append(frames.values[:, lo:hi])

    def seconds(self, pushed: int) -> float:
        return max(0, (self.end or pushed) - self.start) / ANALYSIS_RATE

    def finish(self, complete: bool, info: dict[str, Any]) -> LiveTake:
        audio = np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)
        frames = np.concatenate(self.frames, axis=1) if self.frames else np.zeros((0, 0), np.float32)
        n = min(frames.shape[1] if frames.size else 0, int(audio.size / self.rate * FRAME_RATE))
        audio = audio[: int(round(n / FRAME_RATE * self.rate))]
        return LiveTake(audio, self.rate, frames[:, :n] if frames.size else frames, complete, info, self.start)


class LiveRunner:
    """Runs one capture through one session on a worker thread (see the module docstring).

    ``listener``: called on the worker thread with each batch of frames and the monotonic time
    they were made (benchmarks use it; it must be quick).
    """

    def __init__(self, capture: MicCapture, session: StreamSession, *, poll_s: float = 0.003,
                 listener: Callable[[StreamFrames, float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capture = capture
        self.session = session
        self._poll = poll_s
        self._listener = listener
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._take_ready = threading.Event()
        self._latest: tuple[int, np.ndarray] | None = None
        self._stats = LiveStats()
        self._lat = np.full((_HISTORY, 4), np.nan)
        self._lat_n = 0
        self._late = 0
        self._frames = 0
        self._error: str | None = None
        self._recorder: _Recorder | None = None
        self._requests: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()  # caller -> worker, in order
        self._take: LiveTake | None = None

    # ------------------------------------------------------------------ control (caller's thread)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the microphone and start the worker; raises :class:`CaptureError` when input cannot run."""
        if self.running:
            return
        self.session.reset()
        self.capture.start()
        self._error = None
        self._quit.clear()
        self._thread = threading.Thread(target=self._run, name="live-analysis", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> LiveTake | None:
        """Stop the worker and the device. Returns the take if one was being recorded (else None)."""
        self._requests.put(("record", False))
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.capture.stop()
        return self.pop_take()

    def apply(self, emotion: np.ndarray | None = None, style: str | None = None) -> None:
        """Change emotion intensities and/or head-motion style; the worker applies them between chunks."""
        self._requests.put(("settings", (emotion, style)))

    def start_recording(self) -> None:
        self._take = None
        self._take_ready.clear()
        self._requests.put(("record", True))

    def stop_recording(self, wait: float = 0.0) -> LiveTake | None:
        """Ask the worker to end the take; with ``wait`` > 0 wait that long for it (else poll :meth:`pop_take`)."""
        self._requests.put(("record", False))
        if wait > 0:
            self._take_ready.wait(wait)
        return self.pop_take()

    def pop_take(self) -> LiveTake | None:
        """The finished take, once (None while none is ready)."""
        take, self._take = self._take, None
        return take

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def latest(self) -> tuple[int, np.ndarray] | None:
        """(frame index, arkit52 values) of the newest frame, or None before the first."""
        return self._latest

    def stats(self) -> LiveStats:
        return self._stats

    # ------------------------------------------------------------------ worker thread

    def _run(self) -> None:
        last_stats = 0.0
        try:
            while not self._quit.is_set():
                self._apply_requests()
                chunk = self.capture.read()
                if chunk.audio.size:
                    if self._recorder is not None:
                        self._recorder.add_audio(chunk.raw, chunk.raw_start)
                    self._emit(self.session.process(chunk.audio))
                self._check_record_end()
                now = self._clock()
                if now - last_stats >= STATS_EVERY_S:
                    self._publish(True)
                    last_stats = now
                if not chunk.audio.size:
                    self._quit.wait(self._poll)
        except CaptureError as exc:  # the device went away: keep what arrived
            self._error = str(exc)
        except Exception as exc:  # a bug must not take the application down with it
            self._error = f"Live mode stopped after an internal error: {type(exc).__name__}: {exc}"
        finally:
            self._finish()

    def _apply_requests(self) -> None:
        while True:
            try:
                kind, value = self._requests.get_nowait()
            except queue.Empty:
                return
            if kind == "settings":
                emotion, style = value
                if emotion is not None:
                    self.session.set_emotion(emotion)
                if style is not None:
                    self.session.set_style(style)
            elif value and self._recorder is None:
                start = -(-self.session.samples_pushed // HOP) * HOP
                self._recorder = _Recorder(start, self.capture.rate)
            elif not value and self._recorder is not None and self._recorder.end is None:
                self._recorder.end = max(-(-self.session.samples_pushed // HOP) * HOP, self._recorder.start)

    def _check_record_end(self, force: bool = False, complete: bool = True) -> None:
        """Hand the take over once its last frame exists (``force``: now, with what there is)."""
        rec = self._recorder
        if rec is None or rec.end is None:
            return
        if force or self.session.frames_emitted >= rec.end // HOP:
            self._recorder = None
            self._take = rec.finish(complete, self._take_info())
            self._take_ready.set()

    def _take_info(self) -> dict[str, Any]:
        stats = self._snapshot(False)
        return {"engine": f"live-{self.session.backend.name}", "device": self.capture.device.name,
                "device_rate": self.capture.rate, "lookahead_s": self.session.lookahead_s,
                "emotion": [float(g) for g in self.session.emotion], "pose_style": self.session.style,
                "latency_ms_median": stats.latency_ms, "dropped_blocks": stats.dropped, "late_frames": stats.late}

    def _emit(self, frames: StreamFrames) -> None:
        n = len(frames)
        if n == 0:
            return
        made = self._clock()
        self._latest = (frames.start + n - 1, frames.values[:, -1].copy())
        self._frames += n
        if self._recorder is not None:
            self._recorder.add_frames(frames)
        if self._listener is not None:
            self._listener(frames, made)
        for i in range(frames.start, frames.start + n):
            need = self.session.ready_sample(i) - 1
            hit = self.capture.captured_at(need)
            if hit is None:
                continue
            arrival, captured = hit
            ahead = (need - i * HOP) / ANALYSIS_RATE
            total = made - (captured - ahead)
            self._lat[self._lat_n % _HISTORY] = (total, arrival - captured, ahead, made - arrival)
            self._lat_n += 1
            self._late += total > LATE_S

    def _snapshot(self, running: bool) -> LiveStats:
        lat = self._lat[: min(self._lat_n, _HISTORY)]
        med = [float(v) for v in np.median(lat, axis=0) * 1000] if lat.size else [None] * 4
        rec = self._recorder
        cap = self.capture
        return LiveStats(
            running=running, recording=rec is not None, frames=self._frames,
            recorded_s=rec.seconds(self.session.samples_pushed) if rec is not None else 0.0,
            latency_ms=med[0], latency_p95_ms=float(np.percentile(lat[:, 0], 95) * 1000) if lat.size else None,
            buffer_ms=med[1], lookahead_ms=med[2], compute_ms=med[3], dropped=cap.overflows, late=self._late,
            rms_db=cap.meter.rms_db, peak_db=cap.meter.peak_db, device=cap.device.name, rate=cap.rate,
            error=self._error)

    def _publish(self, running: bool) -> None:
        self._stats = self._snapshot(running)

    def _finish(self) -> None:
        """Worker exit: flush the session into the take (if any), release the device, publish the end."""
        try:
            if self._recorder is not None:
                if self._recorder.end is None:
                    self._recorder.end = -(-self.session.samples_pushed // HOP) * HOP
                self._emit(self.session.flush())
                self._check_record_end(force=True, complete=self._error is None)
        finally:
            self.capture.stop()
            self._publish(False)
