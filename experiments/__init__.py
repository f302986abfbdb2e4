"""Research scripts: experiments on the fixtures and their committed results files (run by make
targets, not shipped)."""
