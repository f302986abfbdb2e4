"""The command line: the app and its exit handling (app.py), options shared by commands (options.py), the
project config file (project_config.py) and one module per command.

Importing this package stays cheap (no torch, transformers, vLLM, numpy or pyarrow).
"""

from audit.cli.app import app, main

__all__ = ["app", "main"]
