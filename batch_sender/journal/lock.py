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
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from batch_sender.errors import UsageError
from batch_sender.i18n import _
from batch_sender.journal.files import lock_path

LOCK_WAIT = 5.0
"""Seconds `send` waits for the campaign's lock (others hold it only to replace the result
file, a rename)."""


def _open_lock(journal: Path) -> IO[bytes]:
    """The lock file, created if needed (flock needs a file); OSError if it cannot be."""
    return lock_path(journal).open("ab")


def take_lock(path: Path, wait: float = LOCK_WAIT) -> IO[bytes]:
    """flock on the journal's lock file, waiting a little (the receiver holds it briefly)."""
    try:
        handle = _open_lock(path)
    except IsADirectoryError:
        raise UsageError(
            _("{path} is a folder: move it aside, then rerun", path=lock_path(path))
        ) from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise UsageError(
                    _(
                        "{path}: another batch-sender is sending this campaign; wait for it to "
                        "finish (or stop it), then rerun",
                        path=path,
                    )
                ) from None
            time.sleep(0.05)


@contextlib.contextmanager
def no_send_running(journal: Path) -> Iterator[bool]:
    """The campaign's lock for the block if no send holds it (True), else False at once.

    For a moment only (a rename): a send that starts meanwhile waits that long.
    No journal, or no lock file to be had (a read-only folder): False.
    """
    if not journal.exists():
        yield False
        return
    try:
        handle = _open_lock(journal)
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the handle releases the flock
