"""A crash (a bug): its traceback in a details file, keys removed, and one line naming it.

The file goes beside the campaign's journal when the command has one (what
was recorded, and why it stopped, stay together), else in the working
folder, else in the temporary folder. Entries are appended: an earlier
crash's details are kept.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sys
import tempfile
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path

from batch_sender import __version__
from batch_sender.journal.files import CRASH_SUFFIX, journal_path

CRASH_FILE = "batch-sender-crash.log"
"""The details file's name where no journal is beside the command's files."""

_SECRET_OPTIONS = ("api_key", "secret_key", "token")
_SECRET_VARIABLES = ("ESMS_API_KEY", "ESMS_SECRET_KEY")
_CAMPAIGN_FILES = ("output", "results")
"""The command's arguments that name a campaign's result file (send -o, callbacks RESULTS)."""

# A key written as a field of a request body or a keyword argument, whatever its value.
_KEYED = re.compile(
    r"""((?:ApiKey|SecretKey|api_key|secret_key|--api-key|--secret-key)['"]?\s*[:=,]?\s*['"]?)"""
    r"""([^'"\s,;)}\]]+)"""
)
REDACTED = "***"


def secrets_of(options: Mapping[str, object]) -> list[str]:
    """The keys this command was given, by option or environment."""
    found = [options.get(name) for name in _SECRET_OPTIONS]
    found += [os.environ.get(name) for name in _SECRET_VARIABLES]
    return sorted({s for s in found if isinstance(s, str) and s}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return _KEYED.sub(lambda m: m[1] + REDACTED, text)


def details_path(options: Mapping[str, object]) -> list[Path]:
    """Where the details may go, best first."""
    places: list[Path] = []
    for name in _CAMPAIGN_FILES:
        results = options.get(name)
        if not isinstance(results, Path):
            continue
        journal = journal_path(results)
        try:
            if journal.exists():
                places.append(journal.with_name(journal.name + CRASH_SUFFIX))
        except OSError:
            continue  # a name too long, a folder not readable: the next place will do
    places += [Path.cwd() / CRASH_FILE, Path(tempfile.gettempdir()) / CRASH_FILE]
    return places


def write_details(exc: BaseException, options: Mapping[str, object]) -> tuple[Path | None, str]:
    """Append the crash's details to the first place that takes them; (path, one line)."""
    secrets = secrets_of(options)
    text = redact(_details(exc), secrets)
    summary = redact(_first_line(exc), secrets)
    why = ""
    for place in details_path(options):
        try:
            fd = os.open(place, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, text.encode("utf-8", errors="replace"))
            finally:
                os.close(fd)
        except OSError as error:
            why = error.strerror or str(error)
            continue
        return place, (
            f"internal error ({summary}), a bug in batch-sender: the details are in {place}; "
            "what was recorded is kept, and rerunning the same command is safe"
        )
    return None, (
        f"internal error ({summary}), a bug in batch-sender; its details could not be "
        f"written ({why}); what was recorded is kept, and rerunning the same command is safe"
    )


def _first_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    first = message[0][:200] if message else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _details(exc: BaseException) -> str:
    when = dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    command = " ".join(["batch-sender", *sys.argv[1:]])
    lines = [
        f"=== {when}: batch-sender {__version__} crashed",
        f"command: {command}",
        f"python {platform.python_version()} on {platform.platform()}",
        "",
        *traceback.format_exception(exc),
        "",
    ]
    return "\n".join(line.rstrip("\n") for line in lines) + "\n"
