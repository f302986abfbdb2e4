"""Detectors: each turns scored rows into per-row scores and a dataset-level result."""
