"""All detectors subaudit knows, by id. The shared contract test iterates over this."""

from __future__ import annotations

from detectors.base import Detector
from detectors.llr import LikelihoodRatioDetector

DETECTORS: dict[str, type[Detector]] = {
    LikelihoodRatioDetector.id: LikelihoodRatioDetector,
}

DEFAULT_SCAN_DETECTORS: tuple[str, ...] = (LikelihoodRatioDetector.id,)
