"""An unexpected exception (a bug): one line naming a file with the details, exit 70.

A traceback on stderr and exit 1 would read to a scheduler as "finished, some
rows need attention". The details go to a file instead, beside the campaign's
result file when the command has one (where the operator looks), with the
account's keys blanked out: a traceback's text can hold an option's value.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from batch_sender.i18n import _

# The keyword arguments of a command that name the file it writes or reads.
_CAMPAIGN_FILES = ("output", "results", "results_path", "result_file")
_SECRET_OPTIONS = ("api_key", "secret_key", "token")
_SECRET_ENV = ("ESMS_API_KEY", "ESMS_SECRET_KEY")


def secrets(options: Mapping[str, Any]) -> list[str]:
    """The keys this run may hold: from its options and the environment."""
    found = [options.get(name) for name in _SECRET_OPTIONS]
    found += [os.environ.get(name) for name in _SECRET_ENV]
    return sorted({s for s in found if isinstance(s, str) and len(s) >= 4}, key=len, reverse=True)


# A key written as a request body's field or a keyword argument, whoever gave it (a
# Python caller's keys are in no option the CLI saw).
_KEYED = re.compile(
    r"""((?:(?:ApiKey|SecretKey|api_key|secret_key)['"]?\s*[:=]\s*['"]?|--(?:api|secret)-key[=\s]+))"""
    r"""([^'"\s,;)}\]]+)"""
)


def redacted(text: str, keys: Iterable[str]) -> str:
    for key in keys:
        text = text.replace(key, "***")
    return _KEYED.sub(lambda m: m[1] + "***", text)


def _folders(options: Mapping[str, Any]) -> list[Path]:
    folders: list[Path] = []
    for name in _CAMPAIGN_FILES:
        value = options.get(name)
        if isinstance(value, (str, Path)) and str(value) not in ("", "-"):
            folders.append(Path(value).parent)
    return [*folders, Path.cwd(), Path(tempfile.gettempdir())]


def write_details(exc: BaseException, command: str, options: Mapping[str, Any]) -> Path | None:
    """The traceback in a new file; None when no folder would take it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = redacted(
        f"batch-sender {command}: internal error at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
        + "".join(traceback.format_exception(exc)),
        secrets(options),
    )
    for folder in _folders(options):
        path = folder / f"batch-sender-crash-{stamp}-{os.getpid()}.txt"
        try:
            with path.open("x", encoding="utf-8") as out:
                out.write(text)
        except OSError:
            continue
        return path
    return None


def one_line(exc: BaseException, details: Path | None, options: Mapping[str, Any]) -> str:
    what = redacted(f"{type(exc).__name__}: {exc}", secrets(options))
    if len(what) > 200:
        what = what[:197] + "..."
    where = _("details in {path}", path=details) if details else _("no file could take the details")
    return _(
        "internal error (a bug in batch-sender): {what}; {where}. "
        "What was recorded stays recorded: the same command is safe to rerun.",
        what=what,
        where=where,
    )
