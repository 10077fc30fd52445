"""One `send` per campaign: a lock on the journal file."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from batch_sender.errors import UsageError

LOCK_WAIT = 5.0
"""Seconds `send` waits for the campaign's lock (others hold it only to replace the result
file, a rename)."""


def take_lock(path: Path, wait: float = LOCK_WAIT) -> IO[bytes]:
    """flock on the journal file, waiting a little (the callback receiver holds it briefly).

    SQLite itself uses fcntl locks, which are independent of flock on Linux,
    so this never blocks SQLite.
    """
    handle = path.open("ab")  # creates the file if needed; flock needs it to exist
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise UsageError(
                    f"{path}: another batch-sender is sending this campaign; "
                    "wait for it to finish (or stop it), then rerun"
                ) from None
            time.sleep(0.05)


@contextlib.contextmanager
def no_send_running(journal: Path) -> Iterator[bool]:
    """The campaign's lock for the block if no send holds it (True), else False at once.

    For a moment only (a rename): a send that starts meanwhile waits that long.
    """
    try:
        handle = journal.open("rb")
    except FileNotFoundError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the handle releases the flock
