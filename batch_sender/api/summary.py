"""A send's summary file (--summary-json): its report, or what refused it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_sender.api.common import run_warnings, write_summary
from batch_sender.api.reports import SendReport
from batch_sender.errors import BatchSenderError, for_reader
from batch_sender.i18n import _, warning

if TYPE_CHECKING:
    import asyncio


def refused(
    exc: BatchSenderError, input: Path, output: Path, campaign_id: str | None, plan: list[str]
) -> dict[str, Any]:
    """The summary of a send refused before the end: what it said, its exit code."""
    return {
        "command": "send",
        "input": str(input),
        "results": str(output),
        "campaign_id": campaign_id,
        "rows": 0,
        "statuses": {},
        "error": for_reader(exc.template),
        "warnings": run_warnings(plan, []),
        "exit_code": int(exc.exit_code),
    }


async def refusal_written(path: Path, refusal: dict[str, Any], stop: asyncio.Event | None) -> None:
    """Written if it can be: the refusal itself is what the caller hears."""
    from batch_sender.offloop import in_thread
    from batch_sender.results.files import NoReader

    with contextlib.suppress(OSError, NoReader):
        await in_thread(write_summary, path, refusal, stop and stop.is_set)


async def summary_written(
    path: Path, report: SendReport, stop: asyncio.Event | None, info: Callable[[str], None]
) -> SendReport:
    """The report, once its summary is written; interrupted if stopped waiting for a FIFO's
    reader (the summary a scheduler reads is not there: a rerun writes it)."""
    from batch_sender.exit_codes import ExitCode
    from batch_sender.offloop import in_thread
    from batch_sender.results.files import NoReader
    from batch_sender.sending.config import INTERRUPTED

    try:
        await in_thread(write_summary, path, report.as_dict(), stop and stop.is_set)
    except NoReader:
        info(warning(_("no reader on the FIFO {path}; summary not written", path=path)))
        if stop is not None and stop.is_set() and report.stopped is None:
            return dataclasses.replace(
                report,
                exit_code=ExitCode.INTERRUPTED,
                stopped=INTERRUPTED,
                stop_template=INTERRUPTED,
            )
    return report
