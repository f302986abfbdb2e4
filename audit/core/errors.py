"""Error types that carry their exit code, so the CLI can print one line and exit correctly.

Anything raised as a :class:`SubauditError` is an expected failure: the CLI prints its message
on one line and exits with its code. Any other exception is a bug and exits with TOOL_ERROR.
"""

from audit.core.exit_codes import ExitCode


class SubauditError(Exception):
    """Base class: an expected failure with a one-line message for the user."""

    exit_code: ExitCode = ExitCode.TOOL_ERROR


class UsageError(SubauditError):
    """The user asked for something that cannot work: bad flag, missing file, wrong columns."""

    exit_code = ExitCode.USAGE_ERROR


class NothingAuditableError(SubauditError):
    """The input was read but no row could be scored."""

    exit_code = ExitCode.NOTHING_AUDITABLE


class ToolError(SubauditError):
    """subaudit could not do its job for a reason outside the user's arguments."""

    exit_code = ExitCode.TOOL_ERROR
