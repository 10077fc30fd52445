"""One `send` per campaign: a lock on a file beside the journal, never on the journal.

SQLite locks the journal with fcntl locks, which belong to the process and
which Linux drops when the process closes any descriptor of that file. A lock
taken and released on the journal itself (the callback receiver does so for
every rewrite) would drop the receiver's own SQLite locks, and a send closing
its connection meanwhile would reset the WAL under it: a damaged journal.
Nothing here opens the journal file; only SQLite does.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from batch_sender.errors import UsageError
from batch_sender.i18n import _
from batch_sender.journal.files import lock_path

LOCK_WAIT = 5.0
"""Seconds `send` waits for the campaign's lock (others hold it only to replace the result
file, a rename)."""


NOTE = b"held by batch-sender while a send runs; do not delete\n"
"""The lock file's one line: the file looks like a leftover to whoever cleans a folder."""


def _open_lock(journal: Path) -> IO[bytes]:
    """The lock file, created if needed (flock needs a file); OSError if it cannot be.

    Never through a symbolic link: one left dangling at this name would make
    the lock (and its note) a file wherever it points.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(lock_path(journal), flags, 0o666)
    handle = os.fdopen(fd, "ab", buffering=0)  # unbuffered: closing it never writes
    with contextlib.suppress(OSError):  # a full disk: the lock works without its note
        if os.fstat(fd).st_size == 0:
            os.write(fd, NOTE)
    return handle


def _still_named(handle: IO[bytes], journal: Path) -> bool:
    """Whether the lock path still names the file locked (it may have been deleted, or
    replaced, between the open and the flock: another send then locks another file)."""
    try:
        named = lock_path(journal).lstat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _locked(journal: Path) -> IO[bytes] | None:
    """The lock file, flocked, if no one holds it; None if someone does. OSError if no file."""
    while True:
        handle = _open_lock(journal)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        except BaseException:
            handle.close()
            raise
        if _still_named(handle, journal):
            return handle
        handle.close()  # a file no other process will lock again: lock the one named now


def take_lock(path: Path, wait: float = LOCK_WAIT) -> IO[bytes]:
    """flock on the journal's lock file, waiting a little (the receiver holds it briefly)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            handle = _locked(path)
        except IsADirectoryError:
            raise UsageError(
                _("{path} is a folder: move it aside, then rerun", path=lock_path(path))
            ) from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise UsageError(
                _(
                    "{path} is a symbolic link where the campaign's lock file belongs: "
                    "remove it, then rerun",
                    path=lock_path(path),
                )
            ) from None
        if handle is not None:
            return handle
        if time.monotonic() >= deadline:
            raise UsageError(
                _(
                    "{path}: another batch-sender is sending this campaign; wait for it to "
                    "finish (or stop it), then rerun",
                    path=path,
                )
            ) from None
        time.sleep(0.05)


@contextlib.contextmanager
def no_send_running(
    journal: Path, running: Callable[[], object | None] | None = None
) -> Iterator[bool]:
    """The campaign's lock for the block if no send holds it (True), else False at once.

    For a moment only (a rename): a send that starts meanwhile waits that long.
    running: the send the journal records as running, if any (a send whose lock
    file was deleted holds no lock on the file named now). No journal, or no lock
    file to be had (a read-only folder): False.
    """
    if not journal.exists():
        yield False
        return
    try:
        handle = _locked(journal)
    except OSError:
        yield False
        return
    if handle is None:
        yield False
        return
    with handle:  # closing the handle releases the flock
        yield running is None or running() is None
