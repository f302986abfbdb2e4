"""All detectors subaudit knows, by id. The shared contract test iterates over this."""

from __future__ import annotations

from detectors.base import Detector
from detectors.learned import LearnedDetector
from detectors.llr import ControlLikelihoodRatioDetector, LikelihoodRatioDetector, PanelLikelihoodRatioDetector
from detectors.semantic_filter import SemanticFilterDetector
from detectors.trait_probe import TraitProbeDetector, TraitProbeDetectorBH

DETECTORS: dict[str, type[Detector]] = {
    LikelihoodRatioDetector.id: LikelihoodRatioDetector,
    ControlLikelihoodRatioDetector.id: ControlLikelihoodRatioDetector,
    PanelLikelihoodRatioDetector.id: PanelLikelihoodRatioDetector,
    SemanticFilterDetector.id: SemanticFilterDetector,
    TraitProbeDetector.id: TraitProbeDetector,
    TraitProbeDetectorBH.id: TraitProbeDetectorBH,
    LearnedDetector.id: LearnedDetector,
}

def scan_detectors(with_control: bool, semantic_filter: bool, probe_correction: str | None = None,
                   learned: bool = False, with_panel: bool = False) -> tuple[str, ...]:
    """The detectors a scan runs: always llr; the control, the text filter and the learned one when asked for.

    A probe (``probe_correction`` set) runs the trait probe instead of the teacher detectors.
    """
    chosen: list[str] = []
    if probe_correction is not None:
        chosen.append(TraitProbeDetector.id if probe_correction == "holm" else TraitProbeDetectorBH.id)
    else:
        chosen.append(LikelihoodRatioDetector.id)
    if with_control and probe_correction is None:
        chosen.append(ControlLikelihoodRatioDetector.id)
    if with_panel and probe_correction is None:
        chosen.append(PanelLikelihoodRatioDetector.id)
    if semantic_filter:
        chosen.append(SemanticFilterDetector.id)
    if learned and probe_correction is None:
        chosen.append(LearnedDetector.id)
    return tuple(chosen)
