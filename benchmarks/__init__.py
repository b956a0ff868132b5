"""Benchmarks and the synthetic edits they (and the calibration scripts) apply."""
