"""Transport bar: play/pause, step, loop, scrub slider and frame counter."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QStyle, QToolBar, QWidget

from mmface_studio.core.playback import PlaybackClock


class TransportBar(QToolBar):
    """Drives a :class:`PlaybackClock` and reports the frame to show via ``frame_changed``."""

    frame_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Transport", parent)
        self.setObjectName("transport")
        self.setMovable(False)
        self.clock = PlaybackClock()
        self._shown = -1
        style = self.style()
        self.act_start = self._action("Go to start", QStyle.SP_MediaSkipBackward, "Home", lambda: self.seek(0))
        self.act_back = self._action("Previous frame", QStyle.SP_MediaSeekBackward, "Left", lambda: self.step(-1))
        self.act_play = self._action("Play / pause", QStyle.SP_MediaPlay, "Space", self.toggle)
        self.act_fwd = self._action("Next frame", QStyle.SP_MediaSeekForward, "Right", lambda: self.step(1))
        self.act_end = self._action("Go to end", QStyle.SP_MediaSkipForward, "End",
                                    lambda: self.seek(self.clock.frame_count - 1))
        # J/K/L shuttle as in video editors: J jumps back a second, K stops, L plays.
        self.act_shuttle_back = self._hidden_action("Back one second", "J", lambda: self.jump(-1.0))
        self.act_shuttle_stop = self._hidden_action("Stop", "K", self.pause)
        self.act_shuttle_play = self._hidden_action("Play", "L", self.play)
        self.player = None  # AudioPlayer once a clip with sound is set
        self.act_loop = QAction("Loop", self)
        self.act_loop.setCheckable(True)
        self.act_loop.setChecked(True)
        self.act_loop.setToolTip("Loop playback (L)")
        self.act_loop.setShortcut(QKeySequence("Ctrl+L"))
        self.act_loop.toggled.connect(self._set_loop)
        self.addAction(self.act_loop)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("scrub")
        self.slider.setMinimumWidth(240)
        self.slider.valueChanged.connect(self._scrubbed)
        self.addWidget(self.slider)
        self.counter = QLabel()
        self.counter.setObjectName("frame-counter")
        self.counter.setMinimumWidth(230)
        self.counter.setAlignment(Qt.AlignCenter)
        self.addWidget(self.counter)
        self._play_icon = style.standardIcon(QStyle.SP_MediaPlay)
        self._pause_icon = style.standardIcon(QStyle.SP_MediaPause)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(8)  # poll faster than any fps; the clock decides which frame is due
        self.timer.timeout.connect(self._tick)
        self._update_counter()

    def _action(self, text: str, icon: QStyle.StandardPixmap, key: str, slot) -> QAction:
        action = QAction(self.style().standardIcon(icon), text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.WindowShortcut)
        action.setToolTip(f"{text} ({key})")
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _hidden_action(self, text: str, key: str, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.WindowShortcut)
        action.triggered.connect(slot)
        self.parentWidget().addAction(action) if self.parentWidget() else self.addAction(action)
        return action

    def set_audio(self, clip) -> None:
        """Play ``clip``'s sound with the picture; the audio clock becomes the master (None: silent)."""
        was_playing = self.clock.playing
        if was_playing:
            self.pause()
        if clip is None:
            self.clock.set_time_source(None)
            return
        from mmface_studio.audio.player import AudioPlayer

        if self.player is None:
            self.player = AudioPlayer()
        self.player.load(clip.original, clip.original_rate)
        self.clock.set_time_source(self.player)
        if self.player.silent:
            self.setToolTip(self.player.status)

    def close_audio(self) -> None:
        if self.player is not None:
            self.clock.set_time_source(None)
            self.player.close()
            self.player = None

    def jump(self, seconds: float) -> None:
        playing = self.clock.playing
        self.seek(self.clock.current_frame() + int(round(seconds * self.clock.fps)))
        if playing:
            self.play()

    def set_timeline(self, fps: float, frame_count: int) -> None:
        self.clock.set_timeline(fps, frame_count)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, frame_count - 1))
        self.slider.blockSignals(False)
        self._shown = -1
        self._show(self.clock.current_frame())

    @property
    def playing(self) -> bool:
        return self.clock.playing

    def toggle(self) -> None:
        self.pause() if self.clock.playing else self.play()

    def play(self) -> None:
        self.clock.play()
        self.act_play.setIcon(self._pause_icon)
        self.timer.start()

    def pause(self) -> None:
        self.clock.pause()
        self.timer.stop()
        self.act_play.setIcon(self._play_icon)
        self._show(self.clock.current_frame())

    def seek(self, frame: int) -> None:
        self.clock.seek(frame)
        self._show(self.clock.current_frame())

    def step(self, delta: int) -> None:
        self.pause()
        self.seek(self.clock.current_frame() + delta)

    def _set_loop(self, on: bool) -> None:
        self.clock.loop = on

    def _scrubbed(self, value: int) -> None:
        if value != self._shown:
            self.clock.seek(value)
            self._show(value)

    def _tick(self) -> None:
        frame = self.clock.current_frame()
        if not self.clock.playing:
            self.pause()
        self._show(frame)

    def _show(self, frame: int) -> None:
        if frame == self._shown:
            return
        self._shown = frame
        self.slider.blockSignals(True)
        self.slider.setValue(frame)
        self.slider.blockSignals(False)
        self._update_counter()
        self.frame_changed.emit(frame)

    @property
    def frame(self) -> int:
        return max(self._shown, 0)

    def _update_counter(self) -> None:
        fps = self.clock.fps
        frame = max(self._shown, 0)
        seconds = frame / fps
        self.counter.setText(f"frame {frame:4d} / {self.clock.frame_count - 1:4d}   "
                             f"{int(seconds // 60):02d}:{seconds % 60:05.2f}   {fps:g} fps")
