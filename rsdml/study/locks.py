"""The lock that keeps a study cell from running twice at the same time.

Whoever runs a cell (the local process pool, a submitit-local task, a Slurm array task) first
takes ``<cell>/running.lock`` with :func:`fcntl.flock`. The operating system (or the NFS
server, for a folder shared by a cluster) holds the lock for the process and drops it when the
process ends in any way: a finished job, a ``kill -9``, a preempted or cancelled Slurm task. A
lock left by a dead job is therefore free, and the next runner simply takes it over; no clock,
heartbeat or guess about another host's processes is involved. The file also records who holds
the lock (host, process, Slurm or submitit job id, since when) so that ``rsdml study --status``
can name the job running a cell.

A filesystem without file locks (some Lustre mounts without ``-o flock``) is refused with
:class:`LocksUnsupported` rather than run unprotected.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from rsdml.errors import UserError

LOCK = "running.lock"
# The environment variables that name the job a process runs in, first match wins.
JOB_ID_VARIABLES = ("SLURM_ARRAY_JOB_ID", "SLURM_JOB_ID", "SUBMITIT_LOCAL_JOB_ID")


class LocksUnsupported(UserError, OSError):
    """The study folder's filesystem cannot lock files, so a cell could run twice at once."""


def current_job() -> str | None:
    """The id of the scheduler job this process runs in (``123_4`` for a Slurm array task)."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return next((os.environ[name] for name in JOB_ID_VARIABLES if os.environ.get(name)), None)


class CellLock:
    """The exclusive right to run one cell; use :meth:`acquire` and :meth:`release`, or ``with``.

    On a local filesystem locks are per open file, so a second :class:`CellLock` on the same
    folder is refused even inside the process that holds the first; on NFS they are per
    process, which is all the runners need (each cell runs in one process at a time).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if no live process holds it; returns whether it was taken.

        Raises:
            LocksUnsupported: the filesystem of the cell folder has no file locks.
        """
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_lock(fd, fcntl.LOCK_EX, self.path):
                os.close(fd)
                return False
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            # the holder released (and removed) the file between our open and our lock: the
            # lock we hold is on a file nobody else will look at, so start again on the new one
            os.close(fd)
        owner = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "job": current_job(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(owner).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up and remove its file (a no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def lock_holder(folder: str | os.PathLike) -> dict[str, Any] | None:
    """Who runs the cell in ``folder`` now (host, pid, job, since), or None when nobody does.

    A lock file whose process is gone counts as free. The check takes a shared lock for an
    instant; a runner that meets it at that instant waits for it (:func:`_try_lock`).
    """
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd, fcntl.LOCK_SH, path):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        try:
            owner = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):  # being written this very moment
            owner = {}
        return owner if isinstance(owner, dict) else {}
    finally:
        os.close(fd)


def _try_lock(fd: int, kind: int, path: Path, attempts: int = 5) -> bool:
    """Lock ``fd`` without blocking; a lock held only for an instant (a status check) is waited
    out over a few tries, one held for longer is not."""
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.05)
        except OSError as error:
            if error.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise LocksUnsupported(
                    f"cannot lock {path}: the filesystem of the study folder does not support "
                    f"file locks ({error.strerror}); mount it with locking (e.g. Lustre's "
                    "-o flock) or choose a study folder elsewhere with --out"
                ) from error
            raise
    return False
