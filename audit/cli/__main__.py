"""`python -m audit.cli`: the same entry point as the `subaudit` script."""

from audit.cli.app import main

main()
