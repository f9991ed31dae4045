"""GUI entry point: QApplication, theme, vispy backend, main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication with the dark theme, and vispy bound to the same Qt binding."""
    from vispy import app as vispy_app

    from mmface_studio.ui.theme import apply_dark_theme

    vispy_app.use_app("pyside6")
    qt_app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    qt_app.setApplicationName("MMFace Studio")
    qt_app.setOrganizationName("MMFace Studio")
    apply_dark_theme(qt_app)
    return qt_app


def run_gui(flame: str | None = None, screenshot: str | None = None, quit_after_ms: int | None = None,
            demo: bool = False) -> int:
    """Open the main window on the built-in head (or a FLAME file) and play the expression tour.

    ``screenshot``/``quit_after_ms`` exist for documentation and smoke checks:
    grab the window once the head is shown, then quit.
    """
    qt_app = create_app()
    from PySide6.QtCore import QTimer

    from mmface_studio.core.document import RecoveryStore
    from mmface_studio.ui.main_window import MainWindow

    window = MainWindow(recovery=RecoveryStore())
    window.show()
    window.load_rig_async(flame)
    if not screenshot:
        QTimer.singleShot(0, window.offer_recovery)
    if demo:
        window.generate_demo()
    if screenshot:
        def grab() -> None:
            if window.rig is None or (demo and (window.controller.busy or window.controller.project.base is None)):
                QTimer.singleShot(200, grab)
                return
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(screenshot)
            window.controller.stack.set_clean()  # documentation mode: quit without the "save?" question
            qt_app.quit()

        QTimer.singleShot(quit_after_ms or 1500, grab)
    elif quit_after_ms:
        QTimer.singleShot(quit_after_ms, qt_app.quit)
    return qt_app.exec()
