"""The one family of errors that a user can fix by changing the input.

Anything raised as a :class:`UserError` (or one of its subclasses, defined in the room that
detects the problem) is a mistake in the command, the data or the files on disk, not a bug. The
command line prints its message in one or two lines with exit status 2 and no traceback
(``--debug`` or ``RSDML_DEBUG=1`` shows it). The message names the problem and the fix.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable


class UserError(Exception):
    """A problem with the input that the user can fix; the message says how."""


#: Set to 1 to see the traceback of user errors too (like ``rsdml --debug``).
DEBUG_ENV = "RSDML_DEBUG"


def debug_enabled(explicit: bool = False) -> bool:
    """Whether user errors show their traceback: ``--debug`` or ``RSDML_DEBUG=1``."""
    if explicit:
        return True
    return os.environ.get(DEBUG_ENV, "0").strip().lower() not in {"", "0", "false", "no", "off"}


def brief(error: BaseException, limit: int = 100) -> str:
    """``"TypeName: first line of the message"``, cut to ``limit`` characters.

    Third-party errors (torch.load, PIL) can span a dozen lines of advice that does not apply;
    a user-facing message quotes only their first line.
    """
    lines = str(error).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if len(first) > limit:
        first = first[: limit - 3].rstrip() + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def did_you_mean(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a mistyped name, or ``""`` when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


# OSErrors that say something about the machine rather than about rsdml's code: no rights or a
# read-only mount, and no space left.
NO_ACCESS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def os_error_behind(
    error: BaseException, *, errnos: frozenset[int] | None = None, implicit: bool = False
) -> OSError | None:
    """The first OSError in ``error``'s chain whose errno is in ``errnos`` (None: any errno).

    The chain is ``error`` and its explicit causes (``raise ... from``); with ``implicit`` also
    the exceptions it was raised while handling, which a library may hide a disk error behind.
    """
    current: BaseException | None = error
    for _ in range(8):
        if current is None:
            return None
        if isinstance(current, OSError) and current.errno is not None:
            if errnos is None or current.errno in errnos:
                return current
        current = current.__cause__ or (current.__context__ if implicit else None)
    return None
