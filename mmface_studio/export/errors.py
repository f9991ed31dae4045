"""Exceptions shared by every exporter, so the GUI and the CLI can handle all formats alike."""

from __future__ import annotations


class ExportError(Exception):
    """An export could not be done; the message is for the user (it names the file and the reason)."""


class ExportCancelled(Exception):
    """The user cancelled an export. Not an :class:`ExportError`: nothing went wrong, so nothing to report.

    Exporters raise it only after removing any partial output, so the final path is untouched.
    """
