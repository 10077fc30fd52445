"""The Python API: check and send a campaign from code (a notebook, a scheduler's task).

Each function takes the CLI's options as keyword arguments, in snake_case,
and returns a report. Problems that stop a run before anything is sent are
exceptions (UsageError, InputError). The library prints nothing, installs no
signal handler and never exits the process: the CLI owns those.

Heavy modules (pandas, aiohttp) are imported on first use, in a worker
thread, so that `import batch_sender` is light and a running loop is not
held up while they load.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from batch_sender.errors import for_python
from batch_sender.esms.protocol import DEFAULT_BASE_URL
from batch_sender.exit_codes import ExitCode
from batch_sender.offloop import run_to_end

if TYPE_CHECKING:
    import asyncio

    from batch_sender.check.inputs import Opened
    from batch_sender.esms.protocol import Message
    from batch_sender.journal.records import Outcome
    from batch_sender.results.tally import Tally
    from batch_sender.sending.plan import SendJob

PathLike = str | os.PathLike[str]
_T = TypeVar("_T")
_P = ParamSpec("_P")


def _options_of(
    twin: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[[Callable[..., _T]], Callable[_P, _T]]:
    """Give a blocking function the keyword arguments (and signature) of its async twin."""

    def typed(fn: Callable[..., _T]) -> Callable[_P, _T]:
        fn.__signature__ = inspect.signature(twin)  # type: ignore[attr-defined]
        return fn

    return typed


@dataclass(frozen=True)
class RowResult:
    """One row's outcome in this run, as it is recorded (the `on_row` callback)."""

    row: int
    """The row's line number in the input (header = 1)."""
    request_id: str
    status: str
    """accepted, rejected or failed."""
    code: str
    """eSMS's CodeResult, empty when eSMS never answered."""
    smsid: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Rows done so far out of the rows this run sends (the `on_progress` callback)."""

    done: int
    total: int


@dataclass(frozen=True)
class Problem:
    """A row that needs attention: its line, status and why."""

    row: int
    status: str
    message: str


@dataclass(frozen=True)
class ValidateReport:
    """What a dry run found; `as_dict()` is what `--summary-json` writes."""

    input: Path
    output: Path | None
    campaign_id: str
    rows: int
    counts: dict[str, int]
    """status -> rows: valid, invalid, duplicate, excluded."""
    problems: tuple[Problem, ...]
    """The first rows that need attention (at most 10)."""
    exit_code: ExitCode
    tally: Tally = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "validate",
            "input": str(self.input),
            "report": None if self.output is None else str(self.output),
            "campaign_id": self.campaign_id,
            **self.tally.as_dict(),
            "exit_code": int(self.exit_code),
        }


@dataclass(frozen=True)
class SendReport:
    """What a send did; `as_dict()` is what `--summary-json` writes."""

    input: Path
    output: Path
    campaign_id: str
    rows: int
    counts: dict[str, int]
    """status -> rows in the result file: accepted, rejected, failed, unsent, ..."""
    codes: dict[str, int]
    """eSMS's CodeResult -> rows."""
    problems: tuple[Problem, ...]
    """The first rows that need attention (at most 10)."""
    sent: int
    """Rows that reached an outcome in this run."""
    seconds: float
    stopped: str | None
    """Why the run stopped before the end (an account error, "interrupted"), or None."""
    stop_code: str
    """eSMS's code when the account stopped the run (101, 103, ...), else empty."""
    exit_code: ExitCode
    plan: list[str]
    """What the run set out to do, as the CLI prints it before sending."""
    warnings: list[str]
    """What the run noticed but went on with (an OAID not among the account's OAs)."""
    tally: Tally = field(repr=False, compare=False)
    stop_template: str | None = field(default=None, repr=False, compare=False)
    """`stopped` with its settings marked for each side's wording (see errors.for_cli)."""

    @property
    def messages_per_second(self) -> float:
        return round(self.sent / self.seconds, 1) if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": "send",
            "input": str(self.input),
            "results": str(self.output),
            "campaign_id": self.campaign_id,
            **self.tally.as_dict(),
            "sent": self.sent,
            "seconds": round(self.seconds, 3),
            "messages_per_second": self.messages_per_second,
            "stopped": self.stopped,
            "exit_code": int(self.exit_code),
        }


# --- validate ------------------------------------------------------------------


async def validate_async(
    input: PathLike,
    output: PathLike | None = None,
    *,
    user_id_column: str = "user_id",
    text_column: str = "text",
    url_column: str = "url",
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    campaign_id: str | None = None,
    chunk_rows: int = 5_000,
    excel: bool = False,
    template: str | None = None,
    template_file: PathLike | None = None,
    exclude: Iterable[PathLike] = (),
    image_url: str | None = None,
    check_images: bool = False,
    summary_json: PathLike | None = None,
) -> ValidateReport:
    """Check every row of `input` and send nothing; write the report to `output` if given.

    Reading and checking run in worker threads: the loop is never held up.
    Raises InputError (file, line, column) or UsageError if the input or an
    option cannot be used.
    """
    from batch_sender.offloop import in_thread

    dry_run = _DryRun(input, output, summary_json, excel)
    await in_thread(_import_validate_path)
    opened = await in_thread(
        dry_run.open,
        user_id_column=user_id_column,
        text_column=text_column,
        url_column=url_column,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        campaign_id=campaign_id,
        chunk_rows=chunk_rows,
        template=template,
        template_file=template_file,
        exclude=exclude,
        image_url=image_url,
    )
    if check_images:
        from batch_sender.check.inputs import with_image_checks

        opened = await with_image_checks(opened)
    return await in_thread(dry_run.finish, opened)


@_options_of(validate_async)
def validate(
    input: PathLike,
    output: PathLike | None = None,
    *,
    check_images: bool = False,
    summary_json: PathLike | None = None,
    excel: bool = False,
    **options: Any,
) -> ValidateReport:
    """`validate_async`'s twin, run in the calling thread (Ctrl-C stops it at once)."""
    from batch_sender.check.inputs import with_image_checks

    dry_run = _DryRun(input, output, summary_json, excel)
    opened = dry_run.open(**options)
    if check_images:
        opened = run_to_end(with_image_checks(opened))
    return dry_run.finish(opened)


class _DryRun:
    """validate's steps, shared by the sync and async forms."""

    def __init__(
        self,
        input: PathLike,
        output: PathLike | None,
        summary_json: PathLike | None,
        excel: bool,
    ) -> None:
        self.input = Path(input)
        self.output = None if output is None else Path(output)
        self.summary = None if summary_json is None else Path(summary_json)
        self.excel = excel

    def open(
        self,
        *,
        template_file: PathLike | None = None,
        exclude: Iterable[PathLike] = (),
        **options: Any,
    ) -> Opened:
        from batch_sender.check.inputs import open_input
        from batch_sender.results.paths import check_output_path, check_side_file

        if self.output is not None:
            check_output_path(self.output, self.input)
        if self.summary is not None:
            taken = [self.input] + ([self.output] if self.output else [])
            check_side_file(self.summary, taken=taken, what="{opt:summary_json}")
        return open_input(
            self.input,
            template_file=None if template_file is None else Path(template_file),
            exclude=[Path(p) for p in exclude],
            **options,
        )

    def finish(self, opened: Opened) -> ValidateReport:
        from batch_sender.check.dry_run import validate_file

        tally = validate_file(
            opened.table, opened.campaign, self.output, checks=opened.checks, excel=self.excel
        )
        report = ValidateReport(
            input=self.input,
            output=self.output,
            campaign_id=opened.campaign.id,
            rows=tally.rows,
            counts=_counts(tally.statuses),
            problems=_problems(tally),
            exit_code=tally.exit_code(),
            tally=tally,
        )
        if self.summary is not None:
            _write_summary(self.summary, report.as_dict())
        return report


# --- send ----------------------------------------------------------------------


async def send_async(
    input: PathLike,
    output: PathLike,
    *,
    api_key: str | None = None,
    secret_key: str | None = None,
    oaid: str | None = None,
    callback_url: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    allow_insecure_http: bool = False,
    rate: float = 10.0,
    timeout: float = 30.0,
    concurrency: int | None = None,
    max_attempts: int = 5,
    backoff: float = 0.5,
    sandbox: bool = False,
    simulate: bool = False,
    resend_stale: bool = False,
    resend_changed: bool = False,
    limit: int | None = None,
    send_at: str | None = None,
    user_id_column: str = "user_id",
    text_column: str = "text",
    url_column: str = "url",
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    campaign_id: str | None = None,
    chunk_rows: int = 5_000,
    excel: bool = False,
    template: str | None = None,
    template_file: PathLike | None = None,
    exclude: Iterable[PathLike] = (),
    image_url: str | None = None,
    check_images: bool = False,
    summary_json: PathLike | None = None,
    on_row: Callable[[RowResult], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_info: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> SendReport:
    """Send `input`'s valid rows; write one result row per input row to `output`.

    Rerunning with the same input and output continues the campaign. Setting
    `stop`, or cancelling the task, stops the run the way Ctrl-C does: no new
    request starts, those in flight finish and are recorded, and the result
    file is written (a cancelled task then raises CancelledError; cancelled
    twice, it abandons the requests in flight). `on_row` hears each row's
    outcome, `on_progress` the count of rows done, `on_info` the plan lines.
    Raises InputError or UsageError before anything is sent.
    """
    from batch_sender.offloop import in_thread

    input_path, output_path = Path(input), Path(output)
    summary_path = None if summary_json is None else Path(summary_json)
    await in_thread(_import_send_path, simulate)
    from batch_sender.check.inputs import open_input, with_image_checks
    from batch_sender.esms.protocol import Credentials, SendOptions
    from batch_sender.journal.files import journal_path
    from batch_sender.results.paths import check_output_path, check_side_file
    from batch_sender.sending.plan import SendJob
    from batch_sender.sending.schedule import send_date
    from batch_sender.sending.sender import SendConfig
    from batch_sender.settings import require_account

    check_output_path(output_path, input_path, resumes=True)
    if simulate:
        from batch_sender.simulator.accounts import with_demo_keys

        credentials = with_demo_keys(api_key, secret_key, oaid)
    else:
        require_account(
            base_url,
            allow_insecure_http,
            {"api_key": api_key, "secret_key": secret_key, "oaid": oaid},
        )
        credentials = Credentials(api_key or "", secret_key or "", oaid or "")  # all three given
    send_date_value = None if send_at is None else send_date(send_at)
    if summary_path is not None:
        taken = [input_path, output_path, journal_path(output_path)]
        check_side_file(summary_path, taken=taken, what="{opt:summary_json}")
    opened = await in_thread(
        open_input,
        input_path,
        user_id_column=user_id_column,
        text_column=text_column,
        url_column=url_column,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        campaign_id=campaign_id,
        chunk_rows=chunk_rows,
        template=template,
        template_file=None if template_file is None else Path(template_file),
        exclude=[Path(p) for p in exclude],
        image_url=image_url,
    )
    if check_images:
        opened = await with_image_checks(opened)
    config = SendConfig(
        base_url=base_url,
        credentials=credentials,
        options=SendOptions(callback_url=callback_url, sandbox=sandbox, send_date=send_date_value),
        timeout=timeout,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        backoff=backoff,
    )
    job = SendJob(
        table=opened.table,
        output=output_path,
        campaign=opened.campaign,
        config=config,
        excel=excel,
        resend_stale=resend_stale,
        resend_changed=resend_changed,
        checks=opened.checks,
        limit=limit,
        on_row=None if on_row is None else _row_results(on_row),
        on_progress=None if on_progress is None else _progress(on_progress),
    )
    plan: list[str] = []

    def info(line: str) -> None:
        plan.append(line)
        if on_info is not None:
            on_info(line)

    if simulate:
        from batch_sender.simulator.server import serve_for

        async with serve_for(credentials) as url:
            info(f"simulating eSMS at {url}")
            report = await _send(_with_base_url(job, url), opened, info, stop, plan)
    else:
        report = await _send(job, opened, info, stop, plan)
    if summary_path is not None:
        await in_thread(_write_summary, summary_path, report.as_dict())
    return report


@_options_of(send_async)
def send(input: PathLike, output: PathLike, **options: Any) -> SendReport:
    """`send_async`, for callers without an event loop of their own."""
    return run_to_end(send_async(input, output, **options))


async def _send(
    job: SendJob,
    opened: Opened,
    info: Callable[[str], None],
    stop: asyncio.Event | None,
    plan: list[str],
) -> SendReport:
    from batch_sender.api.campaign import send_campaign

    run = await send_campaign(job, info, stop)
    tally = run.tally
    stopped = run.stopped
    return SendReport(
        input=job.table.source.path,
        output=job.output,
        campaign_id=opened.campaign.id,
        rows=tally.rows,
        counts=_counts(tally.statuses),
        codes=dict(sorted(tally.codes.items())),
        problems=_problems(tally),
        sent=run.sent,
        seconds=run.seconds,
        stopped=None if stopped is None else for_python(stopped.reason),
        stop_template=None if stopped is None else stopped.reason,
        stop_code="" if stopped is None else stopped.code,
        exit_code=run.exit_code,
        plan=plan,
        warnings=list(run.warnings),
        tally=tally,
    )


# --- helpers -------------------------------------------------------------------


def _import_validate_path() -> None:
    import batch_sender.check.dry_run
    import batch_sender.check.inputs  # noqa: F401


def _import_send_path(simulate: bool) -> None:
    _import_validate_path()
    import batch_sender.api.campaign

    if simulate:
        import batch_sender.simulator.server  # noqa: F401


def _counts(statuses: Mapping[str, int]) -> dict[str, int]:
    from batch_sender.results.tally import status_rank

    return dict(sorted(statuses.items(), key=lambda kv: status_rank(kv[0])))


def _problems(tally: Tally) -> tuple[Problem, ...]:
    return tuple(Problem(row, status, message) for row, status, message in tally.problems)


def _row_results(on_row: Callable[[RowResult], None]) -> Callable[[Message, Outcome], None]:
    def done(message: Message, outcome: Outcome) -> None:
        on_row(
            RowResult(
                row=message.line,
                request_id=message.request_id,
                status=outcome.status,
                code=outcome.code,
                smsid=outcome.smsid,
                message=outcome.message,
            )
        )

    return done


def _progress(on_progress: Callable[[Progress], None]) -> Callable[[int, int], None]:
    return lambda done, total: on_progress(Progress(done, total))


def _with_base_url(job: SendJob, url: str) -> SendJob:
    config = dataclasses.replace(job.config, base_url=url, simulated=True)
    return dataclasses.replace(job, config=config)


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    import json

    from batch_sender.results.files import atomic_text_file

    with atomic_text_file(path) as f:
        json.dump(summary, f, ensure_ascii=False, indent=2)
        f.write("\n")
