"""The one exception family a user can cause, with where it happened."""

from __future__ import annotations

from dataclasses import dataclass


# eq=False on carriers that nobody compares by value: it halves the cost of creating the
# class, and a dozen of them sat on every start-up.
@dataclass(frozen=True, eq=False)
class Location:
    """A place in an input: a field path and, where known, a file and line."""

    path: str = ""
    source: str = ""
    line: int | None = None

    def __str__(self) -> str:
        at = f"{self.source}:{self.line}" if self.source and self.line else self.source
        if self.path and at:
            return f"{self.path} at {at}"
        return self.path or at


class GenSecretError(Exception):
    """Anything a user can cause: shown as one line, exit code 1.

    Messages never carry a secret value: callers name fields, not their contents.
    """

    exit_code = 1

    def __init__(self, message: str, where: Location | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = str(where) if where else ""

    def __str__(self) -> str:
        return f"{self.message} ({self.where})" if self.where else self.message


class UsageError(GenSecretError):
    """A command line that cannot work as given: exit code 2."""

    exit_code = 2


class InternalError(GenSecretError):
    """A broken invariant: a bug in gen-secret, never the user's doing. Exit code 3."""

    exit_code = 3

    def __str__(self) -> str:
        return f"internal error: {super().__str__()}; please report it ({REPORT_TO})"


REPORT_TO = "see SECURITY.md for where and how"
