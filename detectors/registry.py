"""Every detector subaudit knows, by id, and what each declares: whether a user asks for it by id, whether it
can run in a sequential scan, the column its calibrated null is made of.

Why a registry that the pipeline reads instead of a flag per detector: adding a detector used to touch the
scan's options, its config, the sequential check, the calibration's column table and this file. Now a
detector is one class and one :func:`register` call; an installed package declares its own under the
``subaudit.detectors`` entry-point group and is registered on import. ``--detector ID`` and
``audit.api.Method(detectors=...)`` run any optional one. The shared contract test iterates over this.
"""

from __future__ import annotations

from audit.core.plugins import load_plugins as load_entry_points
from detectors.base import Detector
from detectors.learned import LearnedDetector
from detectors.llr import ControlLikelihoodRatioDetector, LikelihoodRatioDetector, PanelLikelihoodRatioDetector
from detectors.semantic_filter import SemanticFilterDetector
from detectors.trait_probe import TraitProbeDetector, TraitProbeDetectorBH

DETECTORS: dict[str, type[Detector]] = {}


def register(detector: type[Detector]) -> type[Detector]:
    """Add a detector class (usable as a decorator); its id must be new, or name this same class."""
    for attribute in ("id", "title", "description"):
        if not getattr(detector, attribute, ""):
            raise ValueError(f"{detector.__name__} declares no {attribute}")
    known = DETECTORS.get(detector.id)
    if known is not None and known is not detector:
        raise ValueError(f"detector id {detector.id!r} is taken by {known.__name__}")
    DETECTORS[detector.id] = detector
    return detector


for _builtin in (LikelihoodRatioDetector, ControlLikelihoodRatioDetector, PanelLikelihoodRatioDetector,
                 SemanticFilterDetector, TraitProbeDetector, TraitProbeDetectorBH, LearnedDetector):
    register(_builtin)


PLUGIN_GROUP = "subaudit.detectors"
"""Entry-point group a package declares its detector classes in (``name = "package.module:DetectorClass"``)."""


def load_plugins() -> None:
    """Register every detector class an installed package declares under :data:`PLUGIN_GROUP`.

    A plugin that cannot be imported, or is not a detector, stops the run in one line naming it: a scan
    that silently lacked a detector its user asked for would be worse.
    """
    load_entry_points(PLUGIN_GROUP, "detector", lambda found: isinstance(found, type) and issubclass(found, Detector),
                      "a detectors.base.Detector class", register)


load_plugins()


def optional_detectors() -> tuple[str, ...]:
    """Ids a user may ask for (``--detector ID``), in registration order."""
    return tuple(name for name, detector in DETECTORS.items() if detector.optional)


def unknown_optional(ids: tuple[str, ...]) -> str | None:
    """Why these ids cannot be asked for, in one line; None when every one is a registered optional detector."""
    bad = [name for name in ids if name not in optional_detectors()]
    if not bad:
        return None
    return (f"unknown detector {', '.join(repr(b) for b in bad)}: --detector takes "
            f"{', '.join(optional_detectors()) or 'no registered optional detector'}")


def calibrated_columns() -> dict[str, str]:
    """Detector id -> the per-row column its measured null is made of (panel members are added per scan)."""
    return {name: detector.calibrated_column for name, detector in DETECTORS.items()
            if detector.calibrated_column is not None}


def scan_detectors(with_control: bool, probe_correction: str | None = None, with_panel: bool = False,
                   asked: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The detectors a scan runs: the likelihood-ratio test of each baseline scored, then the optional ones asked.

    A probe (``probe_correction`` set) runs the trait probe instead of the teacher's tests, and of the
    optional detectors those that need no teacher (the semantic filter, which reads text).
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
    for name in asked:
        if probe_correction is None or not DETECTORS[name].needs_teacher:
            chosen.append(name)
    return tuple(dict.fromkeys(chosen))
