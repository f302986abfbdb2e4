"""What a teacher holds, measured directly: exact-log-probability questionnaires on teacher and reference."""
