"""Reproducible calibration scripts; their outputs are small files inside the packages."""
