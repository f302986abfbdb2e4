"""`subaudit scrub`: after a flag, the data a team can still train on, with what the removal cost and bought."""
