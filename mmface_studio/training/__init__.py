"""Datasets, synthetic corpus, trainers and metrics for the neural engine (no Qt)."""
