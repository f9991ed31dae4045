"""The GUI's owner of the document: project, undo stack, engine session, files, autosave.

Views never hold animation data (DESIGN 2): they read ``controller.project``
and push commands on ``controller.stack``. This object turns document events
into engine work: an emotion or lock edit re-derives the base at once when the
audio's analysis is cached (milliseconds), and everything slow (audio import,
first generation, pose candidates, project loading) runs on a worker thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from mmface_studio.core.document import (
    AddPoseLock,
    Project,
    ProjectFileError,
    RecoveryStore,
    SetAudio,
    SetBasePerformance,
    SetPoseTake,
    UndoStack,
    load_project,
    save_project,
)
from mmface_studio.core.performance import Performance
from mmface_studio.engine import CancelToken, GenerationCancelled
from mmface_studio.engine.session import EngineSession
from mmface_studio.ui.workers import TaskRunner

log = logging.getLogger(__name__)

AUTOSAVE_MS = 60_000
RECENT_LIMIT = 8


class ProjectController(QObject):
    """Signals carry what views need to refresh; data always comes from ``project``."""

    project_replaced = Signal(object)  # the new Project (New / Open / Recover)
    performance_changed = Signal()  # evaluated animation changed (base or layers)
    busy_changed = Signal(bool)
    progressed = Signal(float, str)
    message = Signal(str, int)  # status text, timeout ms
    failed = Signal(str, str)  # title, message for a dialog
    candidates_ready = Signal(list)  # [(seed, Performance)]
    path_changed = Signal(object)  # Path | None
    phonetics_changed = Signal(object)  # the analysis used for the last generation (words/phones)
    #: The voice-predicted emotion behind the take, ``(frame times s, 7 x T)``, or None (no take yet).
    emotion_priors_changed = Signal(object)

    def __init__(self, parent: QObject | None = None, recovery: RecoveryStore | None = None) -> None:
        super().__init__(parent)
        self.stack = UndoStack()
        self.project = Project()
        self.session = EngineSession(self.project)
        self.path: Path | None = None
        self.tasks = TaskRunner(self)
        self._cancel: CancelToken | None = None
        self.recovery = recovery
        self._priors: tuple | None = None
        self.settings = QSettings()
        self.project.events.connect(self._on_change)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        if recovery is not None:
            self.autosave_timer.start()

    # ----------------------------------------------------------------- document
    def replace_project(self, project: Project, path: Path | None = None) -> None:
        self.project.events.disconnect(self._on_change)
        if self.recovery is not None:
            self.recovery.clear_for(self.project)
        self.project = project
        self.session = EngineSession(project, self.session.pipeline)
        project.events.connect(self._on_change)
        self.stack.clear()
        self.stack.set_clean()
        self._set_path(path)
        self.project_replaced.emit(project)
        self.performance_changed.emit()
        self._publish_priors()

    def new_project(self) -> None:
        self.replace_project(Project())

    def evaluated(self) -> Performance | None:
        return self.project.evaluate() if self.project.base is not None else None

    def _on_change(self, change) -> None:
        kind = change.category
        follow_voice = kind == "meta" and change.field == "emotion_prior_weight"
        if (kind in ("emotion", "locks") or follow_voice) and self.project.base is not None and self._cancel is None:
            self._refresh_base()
        if kind in ("base", "layer"):
            self.performance_changed.emit()
        if kind == "base":
            self._publish_priors()

    def _refresh_base(self) -> None:
        """Re-derive the base from the edited inputs; derived data, so not an undo step of its own."""
        if self.session.is_cached():
            self.project.assign(base=self.session.refresh())
        else:
            self.message.emit("Edit saved; generate to see it (the audio has not been analysed yet).", 6000)

    def _publish_priors(self) -> None:
        """Tell the views the voice-predicted emotion of the current take, when it is not what they have.

        Derived from the audio analysis (not document data, like the phones): the session has it
        once this project's audio went through the engine, and None for a project not generated here.
        """
        base, priors = self.project.base, self.session.emotion_priors()
        if base is None or priors is None or priors[1].shape[1] != base.frame_count:
            priors = None  # no take, or the last run was for another take (undo past a generation)
        if priors is not self._priors:
            self._priors = priors
            self.emotion_priors_changed.emit(priors)

    def _set_path(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            self._remember_recent(path)
        self.path_changed.emit(path)

    # -------------------------------------------------------------------- busy
    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def _start(self, what: str) -> CancelToken | None:
        if self._cancel is not None:
            self.message.emit("Please wait: another job is running (or cancel it).", 4000)
            return None
        self._cancel = CancelToken()
        self.busy_changed.emit(True)
        self.message.emit(what, 0)
        return self._cancel

    def _finish(self) -> None:
        self._cancel = None
        self.busy_changed.emit(False)

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _progress(self, fraction: float, stage: str) -> None:
        self.progressed.emit(fraction, stage)  # emitted from the worker: Qt queues it to the GUI thread

    # -------------------------------------------------------------- generation
    def generate(self) -> None:
        if self.project.audio is None:
            self.failed.emit("Nothing to generate", "Import a speech recording first (File → Import audio…).")
            return
        token = self._start("Generating…")
        if token is None:
            return
        session = self.session
        self.tasks.submit(lambda: session.generate(progress=self._progress, cancel=token),
                          self._generated, self._generation_failed)

    def _generated(self, performance: Performance) -> None:
        self.stack.push(SetBasePerformance(self.project, performance))
        self._finish()
        analysis = self.session.pipeline.last_analysis
        self.phonetics_changed.emit(analysis)
        note = f" {analysis.fallback_reason}" if analysis is not None and analysis.fallback_reason else ""
        self.message.emit(f"Generated {performance.duration:.1f} s ({analysis.mode if analysis else '?'}).{note}",
                          8000)

    def _generation_failed(self, exc: Exception) -> None:
        self._finish()
        if isinstance(exc, GenerationCancelled):
            self.message.emit("Generation cancelled; the previous take is kept.", 6000)
        else:
            self.failed.emit("Generation failed", f"Could not generate the performance.\n\n{exc}")

    def resample_pose(self) -> None:
        """A new head-pose take with the next seed (locked ranges keep theirs); one undo step."""
        if self.project.base is None or not self.session.is_cached():
            self.message.emit("Generate first: re-sampling needs a generated take.", 5000)
            return
        seed = self.project.pose_seed + 1
        self.stack.push(SetPoseTake(self.project, self.session.resample_pose(seed), pose_seed=seed))
        self.message.emit(f"Head pose re-sampled (seed {seed}).", 4000)

    def request_candidates(self, count: int) -> None:
        if self.project.base is None:
            self.message.emit("Generate first: candidates need a generated take.", 5000)
            return
        start = self.project.pose_seed + 1
        session = self.session
        self.tasks.submit(lambda: session.pose_candidates(range(start, start + count)),
                          self.candidates_ready.emit, lambda exc: self.failed.emit("Pose candidates", str(exc)))

    def use_candidate(self, seed: int, take: Performance) -> None:
        self.stack.push(SetPoseTake(self.project, take, pose_seed=seed))

    def lock_range(self, start: float, end: float) -> None:
        self.stack.push(AddPoseLock(self.project, start, end))

    # ------------------------------------------------------------------- files
    def import_audio(self, path: str | Path) -> None:
        from mmface_studio.audio import load_audio

        token = self._start(f"Loading {Path(path).name}…")
        if token is None:
            return
        self.tasks.submit(lambda: load_audio(path), self._audio_loaded, self._load_failed)

    def set_audio_clip(self, clip) -> None:
        self.stack.push(SetAudio(self.project, clip))

    def _audio_loaded(self, clip) -> None:
        self._finish()
        self.set_audio_clip(clip)
        for warning in clip.warnings:
            self.message.emit(warning.message, 8000)
        self.generate()

    def _load_failed(self, exc: Exception) -> None:
        self._finish()
        self.failed.emit("Could not open file", str(exc))

    def open_project(self, path: str | Path) -> None:
        token = self._start(f"Opening {Path(path).name}…")
        if token is None:
            return
        self.tasks.submit(lambda: load_project(path), lambda project: self._opened(project, Path(path)),
                          self._load_failed)

    def _opened(self, project: Project, path: Path) -> None:
        self._finish()
        self.replace_project(project, path)
        self.message.emit(f"Opened {path.name}.", 4000)
        if project.audio is not None and project.base is not None:
            # Warm the analysis cache in the background so edits apply instantly afterwards.
            session = self.session
            self.tasks.submit(lambda: session.pipeline.run(session.request()),
                              lambda perf: self._publish_priors() if session is self.session else None,
                              lambda exc: log.info("background analysis failed: %s", exc))

    def save(self, path: str | Path | None = None) -> bool:
        target = Path(path) if path is not None else self.path
        if target is None:
            return False
        if target.suffix.lower() != ".mmfs":
            target = target.with_suffix(".mmfs")
        try:
            save_project(self.project, target)
        except ProjectFileError as exc:
            self.failed.emit("Could not save", str(exc))
            return False
        self.stack.set_clean()
        if self.recovery is not None:
            self.recovery.clear_for(self.project)
        self._set_path(target)
        self.message.emit(f"Saved {target.name}.", 4000)
        return True

    def autosave(self) -> None:
        if self.recovery is None or not self.stack.is_dirty:
            return
        try:
            self.recovery.autosave(self.project, self.path)
        except ProjectFileError as exc:
            self.message.emit(f"Autosave failed: {exc}", 8000)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        files = [value] if isinstance(value, str) else list(value or [])
        return [f for f in files if Path(f).exists()][:RECENT_LIMIT]

    def _remember_recent(self, path: Path) -> None:
        files = [str(path)] + [f for f in self.recent_files() if f != str(path)]
        self.settings.setValue("recent_files", files[:RECENT_LIMIT])

    def shutdown(self) -> None:
        self.cancel()
        self.tasks.wait_all()
        self.autosave_timer.stop()
        if self.recovery is not None and not self.stack.is_dirty:
            self.recovery.clear_for(self.project)
