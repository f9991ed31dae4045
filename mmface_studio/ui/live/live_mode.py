"""Live mode in the main window: the microphone drives the head; "Record" keeps the take in the project.

:class:`LiveMode` owns one :class:`~mmface_studio.engine.live.LiveRunner` while live. A display
timer (~60 Hz) shows the worker's newest frame on the viewport -- the head is deformed on the GUI
thread only when a new frame exists, so the picture runs at display rate while the analysis runs
at 100 frames a second -- and refreshes the level meter and the latency readout in the Live panel
and the status bar. The project's emotion at the playhead and its head-motion style are sent to
the worker whenever they change, so emotion edits show live.

A finished take becomes the project's clip in one undo step ("Record live take": the audio and
the live performance, ``SetAudio`` + ``SetBasePerformance``): it plays, edits and exports like
a generated take, and Generate re-runs the full engine on it. Turning the audio into a clip runs
on a worker thread. If the microphone disappears mid-take, live mode stops, says why, and the part
recorded so far is kept the same way.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from mmface_studio.audio.capture import CaptureError, MicCapture, list_input_devices
from mmface_studio.core.document import SetAudio, SetBasePerformance
from mmface_studio.engine.live import LiveRunner, LiveStats, LiveTake
from mmface_studio.engine.request import EMOTIONS
from mmface_studio.engine.stream import StreamSession
from mmface_studio.ui.docks import side_dock
from mmface_studio.ui.live.live_panel import LivePanel

if TYPE_CHECKING:
    from mmface_studio.ui.main_window import MainWindow

DISPLAY_MS = 16
SETTINGS_EVERY_S = 0.25
MIN_TAKE_S = 0.2


def describe_emotion(gammas: np.ndarray | tuple[float, ...]) -> str:
    """"happiness 0.8, surprise 0.2" (strongest first), or "neutral"."""
    parts = sorted(((float(g), name) for name, g in zip(EMOTIONS, gammas, strict=True)
                    if name != "neutral" and g >= 0.05), reverse=True)
    return ", ".join(f"{name} {g:.1f}" for g, name in parts) or "neutral"


class LiveMode(QObject):
    """The window's live mode: ``start(device)``, ``stop()``, ``toggle()``, ``set_recording(on)``."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = LivePanel()
        self.runner: LiveRunner | None = None
        self.status_label = QLabel("")
        self.status_label.setObjectName("live-status")
        self.status_label.hide()
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(DISPLAY_MS)
        self.timer.timeout.connect(self._tick)
        self._shown = -1
        self.shown: np.ndarray | None = None  # the arkit52 values on screen now (live)
        self._shown_times: list[float] = []
        self._settings: tuple[tuple[float, ...], str] | None = None
        self._settings_at = 0.0
        self.takes_kept = 0
        self.panel.start_requested.connect(self.start)
        self.panel.stop_requested.connect(self.stop)
        self.panel.record_toggled.connect(self.set_recording)
        self._listed = False  # devices are listed when the dock is first shown: loading PortAudio costs ~70 ms

    @property
    def running(self) -> bool:
        return self.runner is not None

    def refresh_devices(self, only_once: bool = False) -> None:
        """Fill the device picker from PortAudio."""
        if only_once and self._listed:
            return
        self._listed = True
        devices = list_input_devices()
        default = ""
        if devices:
            try:
                import sounddevice

                index = sounddevice.default.device[0]
                default = next((d.name for d in devices if d.index == index), "")
            except Exception:  # noqa: BLE001 - the picker works without knowing the default's name
                default = ""
        self.panel.set_devices(devices, default)

    # ------------------------------------------------------------------ control

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start(self.panel.selected_device())

    def start(self, device: str | int | None = None) -> bool:
        """Open the microphone and go live; False (with the reason shown) when it cannot."""
        if self.running:
            return True
        rig = self.window.rig
        if rig is None or rig.space.name != "arkit52":
            self._message("Live mode drives the ARKit channels: use the built-in head (File → Use built-in head).")
            return False
        project = self.window.controller.project
        runner = LiveRunner(MicCapture(device), StreamSession(style=project.pose_style,
                                                              emotion=np.array(self._emotion_now())))
        try:
            runner.start()
        except CaptureError as exc:
            self._message(str(exc))
            return False
        self.runner = runner
        self.window.transport.pause()
        self._shown, self._shown_times, self._settings = -1, [], None
        self._message("")
        self.panel.set_state(True)
        self.status_label.show()
        self.window.fps_label.setText("")  # the transport's playback rate: stale while live shows its own
        self.timer.start()
        self.window.statusBar().showMessage(f"Live: listening to {runner.capture.device.name}.", 4000)
        return True

    def stop(self, wait_for_take: bool = False) -> None:
        """Leave live mode; a take being recorded is finished and kept (at once with ``wait_for_take``)."""
        runner, self.runner = self.runner, None
        if runner is None:
            return
        self.timer.stop()
        take = runner.stop()
        error = runner.stats().error
        self.panel.set_state(False)
        self.status_label.hide()
        if error:
            self._message(error)
        if take is not None:
            self._keep(take, wait_for_take)
        self.window.show_frame(self.window.transport.frame)

    def set_recording(self, on: bool) -> None:
        runner = self.runner
        if runner is None:
            self.panel.set_state(False)
            return
        if on and not runner.recording:
            runner.start_recording()
        elif not on:
            runner.stop_recording()
        self.panel.set_state(True, on)

    def shutdown(self) -> None:
        """Window closing: stop listening; a take in progress joins the project now, so "save?" covers it."""
        self.stop(wait_for_take=True)

    # ------------------------------------------------------------------ display timer

    def _tick(self) -> None:
        runner = self.runner
        if runner is None:
            return
        stats = runner.stats()
        if not runner.running:  # the worker ended by itself: the device went away
            self.stop()
            return
        latest = runner.latest()
        rig = self.window.rig
        if rig is not None and rig.space.name != "arkit52":  # a FLAME model was loaded meanwhile
            self.stop()
            self._message("Live mode stopped: it drives the ARKit channels, which this head does not have.")
            return
        if latest is not None and latest[0] != self._shown and rig is not None:
            self._shown = latest[0]
            self.shown = values = latest[1]
            self.window.viewport.show_vertices(rig.deform(values))
            self.window.channel_meter.show_frame(rig.space, values)
            now = time.perf_counter()
            self._shown_times = [t for t in self._shown_times if now - t < 1.0] + [now]
        take = runner.pop_take()
        if take is not None:
            self._keep(take)
            self.panel.set_state(True, False)
        self._send_settings()
        fps = float(len(self._shown_times))
        self.panel.show_stats(stats, fps)
        self.status_label.setText(self.status_text(stats, fps))

    @staticmethod
    def status_text(stats: LiveStats, fps: float) -> str:
        rec = f" · ● REC {stats.recorded_s:.1f} s" if stats.recording else ""
        latency = "–" if stats.latency_ms is None else f"{stats.latency_ms:.0f} ms"
        return f"LIVE {latency} · dropped {stats.dropped} · late {stats.late} · {fps:.0f} fps{rec}"

    def _emotion_now(self) -> tuple[float, ...]:
        transport = self.window.transport
        return self.window.controller.project.emotion_at(transport.frame / max(transport.clock.fps, 1.0))

    def _send_settings(self) -> None:
        now = time.monotonic()
        if self.runner is None or now - self._settings_at < SETTINGS_EVERY_S:
            return
        self._settings_at = now
        current = (self._emotion_now(), self.window.controller.project.pose_style)
        if current != self._settings:
            self._settings = current
            self.runner.apply(np.array(current[0]), current[1])
            self.panel.show_settings(f"Emotion: {describe_emotion(current[0])} · head motion: {current[1]} "
                                     "(the project's, at the playhead)")

    # ------------------------------------------------------------------ takes

    def _keep(self, take: LiveTake, now: bool = False) -> None:
        """Make the take the project's clip (one undo step); the audio is validated off the GUI thread
        unless ``now`` (closing the window: the commit must land before the window asks to save)."""
        if take.duration < MIN_TAKE_S or not take.frames.size:
            self.panel.show_record_note(f"Take too short ({take.duration:.2f} s): nothing kept.")
            return
        from mmface_studio.audio import clip_from_array

        fps = self.window.controller.project.fps
        name = f"Live take {datetime.now():%H:%M:%S}"

        def prepare():
            return clip_from_array(take.audio, take.rate, name=name), take.performance(fps)

        if now:
            try:
                result = prepare()
            except Exception as exc:  # noqa: BLE001 - a silent or broken take is reported, not raised
                self._take_failed(take, exc)
            else:
                self._commit(take, name, *result)
            return
        self.window.tasks.submit(prepare, lambda result: self._commit(take, name, *result),
                                 lambda exc: self._take_failed(take, exc))

    def _commit(self, take: LiveTake, name: str, clip, performance) -> None:
        controller = self.window.controller
        with controller.stack.compound("Record live take"):
            controller.stack.push(SetAudio(controller.project, clip))
            controller.stack.push(SetBasePerformance(controller.project, performance, text="Live take"))
        self.takes_kept += 1
        cut = "" if take.complete else " (cut short when the microphone stopped)"
        note = f"Kept “{name}”, {take.duration:.1f} s{cut}: it is now the project's clip (Undo brings back the " \
               "previous one). Generate re-runs the full engine on it."
        self.panel.show_record_note(note)
        self.window.statusBar().showMessage(f"Kept {name} ({take.duration:.1f} s).", 6000)

    def _take_failed(self, take: LiveTake, exc: Exception) -> None:
        self.panel.show_record_note(f"The take could not be kept: {exc}")

    def _message(self, text: str) -> None:
        self.panel.show_message(text)
        if text:
            self.window.statusBar().showMessage(text, 10000)


def install_live_mode(window: MainWindow) -> LiveMode:
    """Add the Live dock, its status-bar readout and the Ctrl+Shift+L action to ``window``."""
    live = LiveMode(window)
    dock = side_dock(window, "Live", live.panel, "live")
    dock.visibilityChanged.connect(lambda visible: visible and live.refresh_devices(only_once=True))
    window.tabifyDockWidget(window.identity_dock, dock)
    window.live_dock = dock
    window.statusBar().addPermanentWidget(live.status_label)
    action = QAction("Live microphone", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+L"))
    action.triggered.connect(lambda: (dock.show(), dock.raise_(), live.toggle()))
    window.addAction(action)
    window.act_live = action
    return live
