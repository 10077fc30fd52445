"""The `batch-sender` command: Click option declarations over the library's API.

Each command parses its options, calls the library and prints; heavy modules
(pandas, aiohttp) are imported inside the commands, so that `batch-sender
--help` answers at once. base.py holds the group and the shared options; one
module per family of commands registers them on it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

from batch_sender.cli import audience, campaign, delivery, simulator
from batch_sender.cli.base import cli

__all__ = [
    "audience",
    "campaign",
    "cli",
    "delivery",
    "main",
    "simulator",
]


def main() -> None:
    _standard_streams()
    sys.stdout = _QuietWhenClosed(sys.stdout)
    sys.stderr = _QuietWhenClosed(sys.stderr)
    cli(prog_name="batch-sender")


class _QuietWhenClosed:
    """A standard stream whose reader went away (`| head -1`) takes the rest silently.

    Nobody reads on: that is no error of the command's, which finishes and
    exits with its own code. The descriptor gets /dev/null, so that Python's
    own last flush at exit finds nowhere to fail either.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._stream.fileno())
        finally:
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _standard_streams() -> None:
    """Give a closed stdin, stdout or stderr (`2>&-`, some schedulers) /dev/null.

    Python leaves sys.stderr None then, and the next file opened (a journal, a
    result file) would take descriptor 2 and receive whatever is printed there.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:  # closed: /dev/null takes the descriptor
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            stream = open(fd, mode, encoding="utf-8", closefd=False)  # noqa: SIM115
        else:  # a file opened since holds it: leave that file be
            stream = Path(os.devnull).open(mode, encoding="utf-8")  # noqa: SIM115
        setattr(sys, name, stream)
