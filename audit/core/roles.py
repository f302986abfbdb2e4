"""Model role names the scan, the report and the detectors agree on: ``panel:<name>`` for a panel control.

In audit.core because the pipeline names the roles and the detectors read them; neither owns the other.
"""

PANEL_ROLE_PREFIX = "panel:"
"""Role of a panel control: ``panel:<name>`` (reference weights, the member's system prompt)."""


def panel_member(role: str) -> str:
    """The member's name in a panel role (``panel:<name>`` -> ``<name>``)."""
    return role[len(PANEL_ROLE_PREFIX):]
