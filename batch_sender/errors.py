"""Errors a user sees as one line, each carrying its exit code."""

from __future__ import annotations

from pathlib import Path

from batch_sender.exit_codes import ExitCode


class BatchSenderError(Exception):
    """An error with a one-line message for the user; never shown as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(BatchSenderError):
    """A bad option or setting: nothing was sent."""


class InputError(BatchSenderError):
    """The input file cannot be used; the message names the file and the place."""

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        line: int | None = None,
        column: int | str | None = None,
    ) -> None:
        where = str(path)
        if line is not None:
            where += f": line {line}"
        if column is not None:
            where += f", column {column}" if line is not None else f": column {column}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
        self.column = column


class AccountError(BatchSenderError):
    """eSMS refused the account itself (keys, balance, OAID): every row would fail."""

    exit_code = ExitCode.ACCOUNT

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
