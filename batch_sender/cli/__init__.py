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
    cli(prog_name="batch-sender")


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
