"""GUI fixtures: a real main window on the real built-in head, torn down after each test."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def qapp_cls():
    """Create the QApplication through the product's own factory (theme + vispy backend)."""
    from mmface_studio.ui.app import create_app

    create_app()
    from PySide6.QtWidgets import QApplication

    return QApplication


@pytest.fixture(scope="session")
def default_head():
    from mmface_studio.rig.default_head import load_default_head

    return load_default_head()


@pytest.fixture
def main_window(qtbot, default_head):
    """A shown main window with the built-in head loaded (synchronously) and the tour paused."""
    from mmface_studio.ui.main_window import MainWindow

    window = MainWindow()  # closed below, not by qtbot: a dirty document would ask "save?" and block
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitActive(window)
    window.set_rig(default_head)
    window.transport.pause()
    window.transport.seek(0)
    yield window
    window.transport.pause()
    window.controller.tasks.wait_all()
    assert not window.tasks.busy(), "a worker thread outlived its test"
    window.controller.stack.set_clean()  # no "unsaved changes?" box while tearing down
    window.close()


def head_pixels(image: np.ndarray, background: tuple[int, int, int]) -> int:
    """How many pixels differ clearly from the viewport background."""
    diff = np.abs(image[..., :3].astype(int) - np.array(background)).sum(axis=2)
    return int((diff > 30).sum())


def close_next_message_box(found: list[str]) -> None:
    """Accept the next modal message box as soon as it opens, recording its text.

    A timer is used because the box runs its own nested event loop: code waiting
    in the test would not get control back until the box is closed.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def check() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            found.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(50, check)

    QTimer.singleShot(50, check)
