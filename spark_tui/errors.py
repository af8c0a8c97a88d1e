"""One exception family for everything a user can cause or meet.

Each error carries a one-sentence message, an optional hint, and the exit status the CLI
returns for it. The CLI and the app render these; nobody shows a traceback to a user.
"""

from __future__ import annotations

# Exit statuses, as monitoring plugins use them. They are a published contract.
EXIT_OK = 0
EXIT_CAUTION = 1
EXIT_INCOMPATIBLE = 2
EXIT_UNKNOWN = 3


class SparkTuiError(Exception):
    """A failure with a sentence for the user."""

    exit_code = EXIT_UNKNOWN

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class UsageError(SparkTuiError):
    """Bad arguments or options."""


class ModelNotFoundError(SparkTuiError):
    """The repository or local directory does not exist (or is private)."""

    def __init__(self, message: str, hint: str | None = None, suggestions: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.suggestions = suggestions or []


class GatedModelError(SparkTuiError):
    """The repository is gated and the token (if any) has no access."""


class HubUnavailableError(SparkTuiError):
    """The Hub could not be reached or answered with an error, and nothing usable is cached."""


class ModelDataError(SparkTuiError):
    """The model's metadata is malformed (for example an unparsable config.json)."""


class RulesError(SparkTuiError):
    """A rules file could not be loaded. `problems` lists every problem as file:line: message."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class HubAnswerError(SparkTuiError):
    """The Hub (or HF_ENDPOINT) answered with something malformed or unsafe to use; nothing was written from it."""
