"""Calibration: the versioned null file (file.py), how a null is measured (measure.py) and the
known-source data it is measured on (known_source.py)."""
