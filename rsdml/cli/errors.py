"""Which errors a command reports in one line (input and environment) and which keep their
traceback (bugs)."""

from __future__ import annotations

from rsdml.errors import UserError


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input (bad option, missing data, conflicting run folder): reported in one
    line without a traceback. Anything else is a bug and keeps its traceback."""
    # Every room's own errors derive from UserError; ValueError and FileNotFoundError stay until
    # every check raises one of those.
    return (UserError, ValueError, FileNotFoundError)


def _message(error: BaseException) -> str:
    """The text of an error; a KeyError's is its argument, not the argument's repr."""
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error) or type(error).__name__


def user_error_message(error: BaseException, out: str | None = None) -> str | None:
    """The one-line report of a user or environment error; None for a bug (keep the traceback).

    Args:
        error: the exception a command raised.
        out: the command's output folder, if any, so that a read-only or full disk there is
            blamed on ``--out``.
    """
    from rsdml.runtime import describe_os_error, environment_os_error

    if isinstance(error, _user_errors()):
        return _message(error)
    cause = environment_os_error(error)
    if cause is not None:
        return describe_os_error(cause, out=out)
    return None
