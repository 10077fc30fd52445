"""Errors a user sees as one line, each carrying its exit code.

A message names a setting as `{opt:name}` (an option), `{env:name}` (an
environment variable) or `{setting:name}` (both), by its keyword-argument
name. `str(error)` says `name`, as a Python caller passes it; the CLI says
`--name` or `ESMS_NAME` (`cli_message`). So the library never speaks of CLI
flags, and the CLI's wording stays its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _, in_cli

_SETTING = re.compile(r"\{(opt|env|setting):([a-z_]+)\}")
_CLI_FLAGS = {"output": "-o"}


def _flag(name: str) -> str:
    return _CLI_FLAGS.get(name, "--" + name.replace("_", "-"))


def _env(name: str) -> str:
    return "ESMS_" + name.upper()


def for_python(text: str) -> str:
    """The message as a Python caller reads it: settings by their keyword names."""
    return _SETTING.sub(lambda m: m[2], text)


def for_cli(text: str) -> str:
    """The message as the CLI prints it: --flags and ESMS_* variables."""

    def name(m: re.Match[str]) -> str:
        kind, setting = m[1], m[2]
        if kind == "opt":
            return _flag(setting)
        if kind == "env":
            return _env(setting)
        return f"{_env(setting)} / {_flag(setting)}"

    return _SETTING.sub(name, text)


def for_reader(text: str) -> str:
    """The message for whoever runs this: the CLI's words inside `in_cli_words`, else Python's."""
    return for_cli(text) if in_cli() else for_python(text)


class BatchSenderError(Exception):
    """An error with a one-line message for the user; never shown as a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __str__(self) -> str:
        return for_python(self.template)

    @property
    def template(self) -> str:
        """The message with its settings still as {opt:name} marks (see the module)."""
        return super().__str__()

    @property
    def cli_message(self) -> str:
        return for_cli(self.template)


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
        if line is not None and column is not None:
            where = _("{path}: line {line}, column {column}", path=path, line=line, column=column)
        elif line is not None:
            where = _("{path}: line {line}", path=path, line=line)
        elif column is not None:
            where = _("{path}: column {column}", path=path, column=column)
        else:
            where = str(path)
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
        self.column = column

    def shown_as(self, name: str) -> InputError:
        """The same error naming the input as the user gave it (a pipe read into a copy)."""
        text, old = self.template, str(self.path)
        renamed = InputError.__new__(InputError)
        Exception.__init__(renamed, name + text[len(old) :] if text.startswith(old) else text)
        renamed.path, renamed.line, renamed.column = Path(name), self.line, self.column
        return renamed


class AccountError(BatchSenderError):
    """eSMS refused the account itself (keys, balance, OAID): every row would fail."""

    exit_code = ExitCode.STOPPED

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
