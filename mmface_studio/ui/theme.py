"""Dark theme: one palette + a small stylesheet, applied once at start-up.

A palette (not only a stylesheet) is set so that native-drawn widgets such as
menus, scroll bars and dialogs follow the theme too.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#232428"
PANEL = "#2b2d31"
RAISED = "#34363c"
BORDER = "#3d4047"
TEXT = "#d8dadf"
MUTED = "#8b8f98"
ACCENT = "#4c9be8"
VIEWPORT_BG = "#3a3d44"

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QDockWidget {{ color: {TEXT}; font-weight: 600; }}
QDockWidget::title {{ background: {PANEL}; padding: 5px 8px; border-bottom: 1px solid {BORDER}; }}
QToolBar {{ background: {PANEL}; border: none; border-top: 1px solid {BORDER}; spacing: 4px; padding: 3px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid {BORDER}; }}
QMenuBar {{ background: {PANEL}; color: {TEXT}; border-bottom: 1px solid {BORDER}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {ACCENT}; color: white; }}
QMenu {{ background: {PANEL}; color: {TEXT}; border: 1px solid {BORDER}; }}
QMenu::separator {{ height: 1px; background: {BORDER}; margin: 4px 8px; }}
QToolButton {{ color: {TEXT}; background: transparent; border: 1px solid transparent; border-radius: 3px;
               padding: 3px 6px; }}
QToolButton:hover {{ background: {RAISED}; border-color: {BORDER}; }}
QToolButton:checked {{ background: {ACCENT}; color: white; }}
QPushButton {{ color: {TEXT}; background: {RAISED}; border: 1px solid {BORDER}; border-radius: 3px;
               padding: 4px 12px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QLabel {{ color: {TEXT}; }}
QLabel[role="muted"] {{ color: {MUTED}; }}
QLabel[role="heading"] {{ color: {TEXT}; font-weight: 600; padding-top: 6px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QScrollArea {{ border: none; background: transparent; }}
QProgressBar {{ background: {RAISED}; border: none; border-radius: 2px; height: 6px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style + dark palette + stylesheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.Window: BACKGROUND, QPalette.WindowText: TEXT, QPalette.Base: PANEL,
        QPalette.AlternateBase: RAISED, QPalette.ToolTipBase: PANEL, QPalette.ToolTipText: TEXT,
        QPalette.Text: TEXT, QPalette.Button: RAISED, QPalette.ButtonText: TEXT,
        QPalette.Highlight: ACCENT, QPalette.HighlightedText: "#ffffff", QPalette.Link: ACCENT,
        QPalette.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        palette.setColor(QPalette.Disabled, role, QColor(MUTED))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 9.5))
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
