"""The engine picker lists the shipped checkpoints and shows what each was trained on."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QTextBrowser

MODELS = Path(__file__).resolve().parents[2] / "models"


def _shipped_face_checkpoint():
    from mmface_studio.engine.neural import LIPSYNC_FAMILIES, scan_checkpoints

    found = [c for c in scan_checkpoints([MODELS]) if c.family in LIPSYNC_FAMILIES]
    return found[0] if found else None


def test_engine_list_offers_installed_checkpoints_with_their_cards(main_window, qtbot) -> None:
    shipped = _shipped_face_checkpoint()
    if shipped is None:
        pytest.skip("no face checkpoint in models/")
    name = shipped.name
    panel = main_window.generate_panel
    items = [panel.engine.itemText(i) for i in range(panel.engine.count())]
    assert items[0] == "classic" and name in items
    assert not panel.engine_card.button.isVisibleTo(panel)
    panel.engine.setCurrentText(name)
    assert main_window.controller.project.engine == name
    assert panel.engine_card.label.text().startswith(f"Neural: {shipped.family}, {shipped.space}")
    assert name in panel.engine_card.label.toolTip()
    assert panel.engine_card.button.isVisibleTo(panel)
    panel.engine_card.button.click()
    dialog = panel.engine_card.dialog
    qtbot.waitUntil(dialog.isVisible)
    browser = dialog.findChild(QTextBrowser)
    assert "synthetic" in browser.toPlainText()
    dialog.close()
