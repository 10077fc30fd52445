"""Why the journal cannot be used: it cannot be written, or it is damaged."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from batch_sender.errors import BatchSenderError, UsageError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _
from batch_sender.journal.files import JOURNAL_SUFFIX


class WriteFailed(BatchSenderError):
    """A file the run must write cannot be written (disk full, read-only): exit 3."""

    exit_code = ExitCode.STOPPED

    def __init__(self, what: str, path: Path, cause: BaseException) -> None:
        why, advice = _failure(cause)
        super().__init__(
            _("cannot write {what}: {why}; {advice}", what=what, why=why, advice=advice)
        )
        self.path = path
        self.cause = cause


class JournalError(WriteFailed):
    """The journal cannot be written (disk full, read-only, busy too long): the run stops."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(_("the journal"), path, cause)

    @property
    def busy(self) -> bool:
        """Another process held SQLite's write lock: trying again later may succeed."""
        return isinstance(self.cause, sqlite3.OperationalError) and _is_busy(self.cause)


class JournalDamaged(UsageError):
    """The journal file is not a sound SQLite database: nothing is sent."""

    def __init__(self, path: Path, detail: str, *, sending: bool = False) -> None:
        results = path.name.removesuffix(JOURNAL_SUFFIX)
        self.detail = detail
        # Only `send` can say it sent nothing; report, status and callbacks never send.
        sent = _("; nothing was sent") if sending else ""
        command = f"mv '{path}' '{path}.damaged'"
        super().__init__(
            _(
                "{path}: the journal is damaged ({detail}){sent}. Move it aside "
                "({command}), keep {results} (it has the SMSIDs so far) and "
                "rerun with another -o: rows sent in the last 24 hours keep their RequestIds, "
                "so eSMS refuses to deliver them twice (124) and the new result file marks "
                "them for you to check",
                path=path,
                detail=detail,
                sent=sent,
                command=command,
                results=results,
            )
        )


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _failure(cause: BaseException) -> tuple[str, str]:
    """What went wrong in a user's words, and what to do."""
    code = cause.errno if isinstance(cause, OSError) else None
    text = (cause.strerror if isinstance(cause, OSError) else None) or str(cause)
    if code == errno.ENOSPC or "disk is full" in text.lower():
        return _("No space left on device"), _("free space and rerun")
    if "disk i/o error" in text.lower():  # what SQLite says when WAL files cannot grow
        return text, _("is the disk full? free space and rerun")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in text.lower():
        return text, _("make the folder writable and rerun")
    if isinstance(cause, sqlite3.Error) and _is_busy(cause):
        return text, _("another program holds it; stop that program, then rerun")
    return text, _("rerun the same command to continue")
