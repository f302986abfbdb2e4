"""Contracts every part shares: errors and exit codes, verdict levels, atomic writes, the
statistics and the null type."""
