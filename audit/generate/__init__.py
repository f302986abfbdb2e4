"""Generating datasets of known source: prompt streams, sampling and the paper's number filter."""
