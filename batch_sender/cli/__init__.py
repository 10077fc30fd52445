"""The `batch-sender` command: Click option declarations over the library's API.

Each command parses its options, calls the library and prints; heavy modules
(pandas, aiohttp) are imported inside the commands, so that `batch-sender
--help` answers at once. base.py holds the group and the shared options; one
module per family of commands registers them on it.
"""

from __future__ import annotations

from batch_sender.cli import audience, campaign, delivery, simulator
from batch_sender.cli.base import cli
from batch_sender.settings import DELIMITER_NAMES, check_base_url

__all__ = [
    "DELIMITER_NAMES",
    "audience",
    "campaign",
    "check_base_url",
    "cli",
    "delivery",
    "main",
    "simulator",
]


def main() -> None:
    cli(prog_name="batch-sender")
