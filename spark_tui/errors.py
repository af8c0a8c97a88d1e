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
# spark-tui itself failed (a bug): one sentence on the terminal, the traceback in a saved report.
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130


class SparkTuiError(Exception):
    """A failure with a sentence for the user. `kind` names the family member in `check --json`'s failure object
    (`error.kind`): a published contract, like the exit statuses."""

    exit_code = EXIT_UNKNOWN
    kind = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class UsageError(SparkTuiError):
    """Bad arguments or options."""

    kind = "usage"


class ModelNotFoundError(SparkTuiError):
    """The repository or local directory does not exist (or is private)."""

    kind = "not_found"

    def __init__(self, message: str, hint: str | None = None, suggestions: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.suggestions = suggestions or []


class GatedModelError(SparkTuiError):
    """The repository is gated and the token (if any) has no access."""

    kind = "gated"


class HubUnavailableError(SparkTuiError):
    """The Hub could not be reached or answered with an error, and nothing usable is cached."""

    kind = "hub_unavailable"


class ModelDataError(SparkTuiError):
    """The model's metadata is malformed (for example an unparsable config.json)."""

    kind = "model_data"


class RulesError(SparkTuiError):
    """A rules file could not be loaded. `problems` lists every problem as file:line: message."""

    kind = "rules"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class StateWriteError(SparkTuiError):
    """A server's record, log or result could not be written (a full or read-only disk under the state folder)."""

    kind = "state_write"


class ServerStillRunningError(SparkTuiError):
    """`stop` signalled a server and something of it is still there."""

    kind = "server_still_running"


class HubAnswerError(HubUnavailableError):
    """The Hub (or whatever answers at HF_ENDPOINT) sent something that is not what the Hub sends: HTML, cut-off or
    wrong-shaped JSON. Nothing of it is cached."""

    kind = "hub_bad_answer"


class HubAccessError(SparkTuiError):
    """The Hub refused the request (HTTP 401/403) without saying the repo is gated: a token problem."""

    kind = "hub_access_denied"


# `check --json` failures that are not one of the family: Ctrl-C, and a bug in spark-tui (exit 4).
OTHER_FAILURE_KINDS = ("interrupted", "internal")


def error_kinds() -> set[str]:
    """Every `error.kind` a `check --json` failure object can carry (the family's, wherever it is defined, and
    OTHER_FAILURE_KINDS)."""
    kinds = set(OTHER_FAILURE_KINDS)
    todo: list[type[SparkTuiError]] = [SparkTuiError]
    while todo:
        cls = todo.pop()
        kinds.add(cls.kind)
        todo.extend(cls.__subclasses__())
    return kinds
