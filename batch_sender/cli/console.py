"""The CLI's side of a run: signals, the progress bar, the lines and JSON events it prints.

The library prints nothing and installs no signal handler; everything a
terminal user sees or does to a running command is here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from batch_sender import ExitCode
from batch_sender.cli.spoken import interrupted_line
from batch_sender.i18n import N_, _, in_cli_words, is_warning

if TYPE_CHECKING:
    import asyncio

    from batch_sender import Progress, SendReport, ValidateReport

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
QUIT_GRACE = 1.0
"""Seconds a second signal waits for the journal to be flushed before the process exits."""
STOPPING_LINE = N_("stopping: finishing the requests in flight (Ctrl-C again to quit at once)")


def echo(line: str, *, err: bool = False) -> None:
    """click.echo, but a terminal that went away (SIGHUP, a closed pipe) changes nothing else."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(line, err=err)


class Interrupts:
    """SIGINT, SIGTERM and SIGHUP end a send the same way, as Ctrl-C does.

    The first signal sets `stop`: no new request starts, those in flight
    finish and are recorded, the result file is written, exit 130. A second
    one cancels the run (the library flushes its journal and returns at once)
    and, should that take longer than QUIT_GRACE, leaves with os._exit.
    Outside the event loop (opening the input, printing the summary), a
    signal raises KeyboardInterrupt: nothing is being sent then.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        first: str | None = STOPPING_LINE,
    ) -> None:
        self.say = say
        self.first = first
        self.received = 0
        self.handled = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.task: asyncio.Task[Any] | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def watching(self, stop: asyncio.Event) -> Iterator[None]:
        """Route signals to this running loop's task while the send runs."""
        import asyncio

        self.loop = asyncio.get_running_loop()
        self.stop = stop
        self.task = asyncio.current_task()
        if self.received:
            self.loop.call_soon(self._in_loop)  # one came in before the loop started
        try:
            yield
        finally:
            self.loop = self.stop = self.task = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.loop is None:
            raise KeyboardInterrupt
        self.loop.call_soon_threadsafe(self._in_loop)

    def _in_loop(self) -> None:
        while self.handled < self.received:
            self.handled += 1
            if self.handled == 1:
                if self.first is not None:
                    self.say(_(self.first))
                if self.stop is not None:
                    self.stop.set()
            elif self.handled == 2:
                self.say(_("interrupted again: quitting now; rerun the same command to continue"))
                if self.task is not None:
                    self.task.cancel()
                if self.loop is not None:
                    self.loop.call_later(QUIT_GRACE, quit_now)


def quit_now() -> None:
    """Leave at once, exit 130: what the journal has is safe (the intent log covers the rest)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(ExitCode.INTERRUPTED)


class ProgressBar:
    """A rich progress bar on stderr, fed by the library's on_progress callback.

    Lines said while it runs go above it (print), never glued to its frame;
    it stays on the screen at its last count when it closes.
    """

    def __init__(self, *, enabled: bool, console: Any = None) -> None:
        self.enabled = enabled
        self.console = console
        self.progress: Any = None
        self.task: Any = None
        self.done = 0

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (
                TextColumn(_("sending")),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            console = self.console or Console(stderr=True)
            self.progress = Progress(*columns, console=console)
            self.progress.start()
            self.task = self.progress.add_task("send", total=progress.total)
        # The total grows while a big sheet is read (the send streams it).
        self.progress.update(self.task, completed=progress.done, total=progress.total)

    def print(self, line: str) -> None:
        """A line on stderr: above the bar while it shows."""
        if self.progress is None:
            echo(line, err=True)
            return
        with contextlib.suppress(OSError, ValueError):
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            with contextlib.suppress(OSError, ValueError):
                # Its last count drawn: a refresh between two rows would show one short.
                self.progress.refresh()
                self.progress.stop()
            self.progress = None


def log_json(event: dict[str, Any]) -> None:
    """One JSON line on stderr (--log-format json); `time` is ISO 8601 with its UTC offset."""
    now = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
    echo(json.dumps({"time": now, **event}, ensure_ascii=False), err=True)


class ProgressLines(logging.Handler):
    """The library's progress records on stderr, as lines or JSON events (no bar there)."""

    def __init__(self, *, json_log: bool) -> None:
        super().__init__(logging.INFO)
        self.json_log = json_log

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) != "progress":
            return  # the plan and the summary the CLI says itself
        if not self.json_log:
            echo(record.getMessage(), err=True)
            return
        numbers = {k: getattr(record, k, None) for k in ("done", "total", "rate", "eta_seconds")}
        log_json({"event": "progress", **numbers, "message": record.getMessage()})

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        logger = logging.getLogger("batch_sender")
        logger.addHandler(self)
        level = logger.level
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


def print_counts(name: str, report: ValidateReport | SendReport) -> None:
    first, *rest = report.summary_lines()
    echo(f"{name}: {first}")
    for line in rest:
        echo(line)


@contextlib.contextmanager
def counter_bar(label: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """Yields `update(done, total)` for work whose total is learnt on the way."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def run_send(
    input_path: Path, output: Path, *, json_log: bool, quiet: bool, **options: Any
) -> ExitCode:
    """`send` for a terminal: signals, progress bar or JSON lines, the summary; its exit code."""
    import asyncio

    from batch_sender import Account, Reading, RowResult, SendingPolicy, send_async
    from batch_sender.cli.base import take

    def say(line: str) -> None:
        if json_log:
            log_json({"event": "info", "message": line})
        elif not quiet or is_warning(line):  # --quiet drops plan lines, not warnings
            bar.print(line)

    def on_row(row: RowResult) -> None:
        log_json(
            {
                "event": "row",
                "row": row.row,
                "RequestId": row.request_id,
                "status": row.status,
                "CodeResult": row.code,
                "SMSID": row.smsid,
                "ErrorMessage": row.message,
            }
        )

    terminal = sys.stderr.isatty()
    if not terminal:
        # A file or a pipe (a scheduler's log) gets each line as it is written.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    bar = ProgressBar(enabled=not quiet and not json_log and terminal)
    lines = ProgressLines(json_log=json_log)
    interrupts = Interrupts(say)

    account, reading, policy = (
        take(Account, options),
        take(Reading, options),
        take(SendingPolicy, options),
    )

    async def run() -> SendReport:
        stop = asyncio.Event()
        with interrupts.watching(stop):
            return await send_async(
                input_path,
                output,
                on_row=on_row if json_log else None,
                on_skipped_row=on_row if json_log else None,
                on_progress=bar,
                on_info=say,
                stop=stop,
                account=account,
                reading=reading,
                policy=policy,
                **options,
            )

    progress_lines = (
        lines.installed() if json_log or not (quiet or terminal) else contextlib.nullcontext()
    )
    with interrupts.installed(), progress_lines:
        try:
            with in_cli_words():  # the summary file says --resend-changed, as stderr does
                report = asyncio.run(run())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None  # a second signal: handle_errors says so
        finally:
            bar.close()
        test_line = report.test_line()
        if test_line is not None:
            echo(test_line)  # a test message: the campaign's result file is not written
        else:
            print_counts(input_path.name, report)
            if report.sent:
                echo(report.rate_line())
            echo(_("results: {path}", path=output))
        if report.stopped is not None:
            if report.exit_code == ExitCode.INTERRUPTED:
                line = interrupted_line()
            else:
                line = _("Error: stopped: {message}", message=report.stopped_cli_message or "")
            if json_log:
                log_json({"event": "stopped", "message": line, "exit_code": int(report.exit_code)})
            else:
                echo(line, err=True)
        if json_log:
            log_json({"event": "summary", "summary": report.as_dict()})
    return report.exit_code
