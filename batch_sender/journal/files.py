"""One `send` per campaign: a lock on the journal file, and the files that go with a journal."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from batch_sender.errors import UsageError
from batch_sender.i18n import _

JOURNAL_SUFFIX = ".journal.sqlite"


INTENTS_SUFFIX = "-intents"
"""The log of marks and answers; a second one, `-intents-1`, takes over while one is committed."""


RESERVE_SUFFIX = "-reserve"
"""Room allocated beside the journal while sending: the answers in flight when the disk
fills are written into it (see `Journal._append`)."""


REPORTS_SUFFIX = "-reports"
"""Delivery reports the callback receiver took while the journal was busy (see append_report)."""


LOCK_WAIT = 5.0
"""Seconds `send` waits for the campaign's lock (others hold it only to replace the result
file, a rename)."""


def _take_lock(path: Path, wait: float = LOCK_WAIT) -> IO[bytes]:
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


def journal_path(results: Path) -> Path:
    return results.with_name(results.name + JOURNAL_SUFFIX)


def side_files(journal: Path) -> list[Path]:
    """Every file the journal keeps beside itself: none may ever be an output."""
    suffixes = ("-wal", "-shm", INTENTS_SUFFIX, INTENTS_SUFFIX + "-1", REPORTS_SUFFIX)
    return [journal.with_name(journal.name + s) for s in (*suffixes, RESERVE_SUFFIX)]
