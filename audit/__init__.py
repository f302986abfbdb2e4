"""subaudit: audit synthetic training data for hidden teacher traits via log-likelihood ratios.

This package is the Python API (:mod:`audit.api`: ``from audit import scan, ScanRequest, Input``), the
command line built on it, data I/O, model specs, scoring backends, statistics and reporting. Nothing
here imports torch, transformers or vLLM at import time: the backends load them lazily so that
``subaudit --help`` and ``import audit`` stay instant.
"""

from audit.api import *  # noqa: F403  (the API's names, listed once in audit.api.__all__)
from audit.api import __all__ as _api
from audit.version import __version__

__all__ = [*_api, "__version__"]
