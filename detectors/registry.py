"""All detectors subaudit knows, by id. The shared contract test iterates over this."""

from __future__ import annotations

from detectors.base import Detector
from detectors.llr import ControlLikelihoodRatioDetector, LikelihoodRatioDetector
from detectors.semantic_filter import SemanticFilterDetector

DETECTORS: dict[str, type[Detector]] = {
    LikelihoodRatioDetector.id: LikelihoodRatioDetector,
    ControlLikelihoodRatioDetector.id: ControlLikelihoodRatioDetector,
    SemanticFilterDetector.id: SemanticFilterDetector,
}

def scan_detectors(with_control: bool, semantic_filter: bool) -> tuple[str, ...]:
    """The detectors a scan runs: always llr; the control and the text filter when asked for."""
    chosen = [LikelihoodRatioDetector.id]
    if with_control:
        chosen.append(ControlLikelihoodRatioDetector.id)
    if semantic_filter:
        chosen.append(SemanticFilterDetector.id)
    return tuple(chosen)
