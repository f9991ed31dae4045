"""Transport bar: play/pause, J/K/L shuttle, step, loop (range), scrub slider and frame counter.

J and L work as in video editors: L plays forwards, J backwards; pressing the same key again
doubles the speed (1x, 2x, 4x), the other key starts over at 1x that way, K stops. Only 1x forwards
plays sound (the audio clock leads there); the other speeds run silent on the wall clock (see
``core.playback``). The loop repeats the loop range (the timeline selection) or the whole clip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QStyle, QToolBar, QWidget

from mmface_studio.core.playback import SHUTTLE_SPEEDS, PlaybackClock


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
        # J/K/L shuttle as in video editors: J backwards, L forwards (again: faster), K stops.
        self.act_shuttle_back = self._hidden_action("Play backwards (again: faster)", "J", lambda: self.shuttle(-1))
        self.act_shuttle_stop = self._hidden_action("Stop", "K", self.pause)
        self.act_shuttle_play = self._hidden_action("Play forwards (again: faster)", "L", lambda: self.shuttle(1))
        self.player = None  # AudioPlayer once a clip with sound is set
        self.act_loop = QAction("Loop", self)
        self.act_loop.setCheckable(True)
        self.act_loop.setChecked(True)
        self.act_loop.setToolTip("Loop playback (Ctrl+L): the timeline selection (I / O set it), else the whole clip")
        self.act_loop.setShortcut(QKeySequence("Ctrl+L"))
        self.act_loop.toggled.connect(self._set_loop)
        self.addAction(self.act_loop)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("scrub")
        self.slider.setMinimumWidth(240)
        self.slider.valueChanged.connect(self._scrubbed)
        self.addWidget(self.slider)
        self.speed = QLabel("")
        self.speed.setObjectName("shuttle-speed")
        self.speed.setMinimumWidth(self.speed.fontMetrics().horizontalAdvance("◀◀ 4×") + 12)
        self.speed.setAlignment(Qt.AlignCenter)
        self.speed.setToolTip("Shuttle speed (J / K / L)")
        self.addWidget(self.speed)
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

    def shuttle(self, direction: int) -> None:
        """J (``-1``) / L (``+1``): play that way; again while playing that way: the next speed (to 4x)."""
        rate = self.clock.rate
        if self.clock.playing and rate * direction > 0:
            faster = [s for s in SHUTTLE_SPEEDS if s > abs(rate)]
            speed = faster[0] if faster else SHUTTLE_SPEEDS[-1]
        else:
            speed = SHUTTLE_SPEEDS[0]
        self._start(direction * speed)

    @property
    def rate(self) -> float:
        """The playback speed (negative: backwards); 1 unless shuttling."""
        return self.clock.rate

    def set_loop_range(self, span: tuple[float, float] | None) -> None:
        """Loop ``(start_s, end_s)`` (the timeline selection); None: the whole clip."""
        self.clock.set_loop_range(span)

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
        """Play forwards at normal speed, with sound (Space, the play button)."""
        self._start(1.0)

    def _start(self, rate: float) -> None:
        self.clock.set_rate(rate)
        if not self.clock.playing:
            self.clock.play()
        self.act_play.setIcon(self._pause_icon)
        self._show_speed()
        self.timer.start()

    def pause(self) -> None:
        self.clock.pause()
        self.timer.stop()
        self.act_play.setIcon(self._play_icon)
        self._show_speed()
        self._show(self.clock.current_frame())

    def _show_speed(self) -> None:
        rate = self.clock.rate
        if not self.clock.playing or rate == 1.0:
            self.speed.setText("")
            return
        arrows = ("▶" if rate > 0 else "◀") * (1 if abs(rate) < 2 else 2)
        self.speed.setText(f"{arrows} {abs(rate):g}×")

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
