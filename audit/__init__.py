"""subaudit: audit synthetic training data for hidden teacher traits via log-likelihood ratios.

This package is the command line, data I/O, model specs, scoring backends, statistics and
reporting. Nothing here imports torch, transformers or vLLM at import time: the backends load
them lazily so that ``subaudit --help`` stays instant.
"""

__version__ = "0.1.0"
