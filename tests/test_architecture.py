"""House rules that keep the layers apart (DESIGN 2)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mmface_studio"
QT_IMPORT = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt5|PyQt6|pyqtgraph|pytestqt)\b", re.MULTILINE)


def test_only_the_ui_package_imports_qt() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "ui" not in path.relative_to(PACKAGE).parts[:1] and QT_IMPORT.search(path.read_text())
    ]
    assert offenders == [], f"Qt imported outside mmface_studio/ui: {offenders}"


def test_no_module_grows_past_the_size_limit() -> None:
    too_long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
                if (n := len(p.read_text().splitlines())) > 650}
    assert too_long == {}, f"split these modules: {too_long}"
