"""The files that go with a journal, beside it."""

from __future__ import annotations

from pathlib import Path

JOURNAL_SUFFIX = ".journal.sqlite"


INTENTS_SUFFIX = "-intents"
"""The log of marks and answers; a second one, `-intents-1`, takes over while one is committed."""


RESERVE_SUFFIX = "-reserve"
"""Room allocated beside the journal while sending: the answers in flight when the disk
fills are written into it (see `Writer.write`)."""


REPORTS_SUFFIX = "-reports"
"""Delivery reports the callback receiver took while the journal was busy
(see `DeliveryStore.hold`)."""


LOCK_SUFFIX = "-lock"
"""The campaign's lock file (flock): held by `send`, briefly by the callback receiver.

It stays when released: a lock file removed while another process waits on it
would let the next one lock a new file, and two sends run at once."""


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + LOCK_SUFFIX)


def journal_path(results: Path) -> Path:
    return results.with_name(results.name + JOURNAL_SUFFIX)


def remove_journal(journal: Path) -> None:
    """Delete the journal and its side files, all but the lock file (see LOCK_SUFFIX)."""
    for file in (journal, *side_files(journal)):
        if file != lock_path(journal):
            file.unlink(missing_ok=True)


def side_files(journal: Path) -> list[Path]:
    """Every file the journal keeps beside itself: none may ever be an output."""
    suffixes = ("-wal", "-shm", INTENTS_SUFFIX, INTENTS_SUFFIX + "-1", REPORTS_SUFFIX, LOCK_SUFFIX)
    return [journal.with_name(journal.name + s) for s in (*suffixes, RESERVE_SUFFIX)]
