"""Exporters: one adapter module per file format, chosen by suffix (DESIGN 6)."""
