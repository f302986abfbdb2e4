"""Calibration: the versioned null file (file.py) and the known-source data a null is measured on
(known_source.py); the scan that measures it is audit.pipeline.measure_null."""
