"""`send`: a campaign's valid rows sent, one result row per input row, rerun-safe."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from batch_sender.api.common import (
    counts,
    credentials,
    options_of,
    problems,
    progress,
    write_summary,
)
from batch_sender.api.reports import Progress, RowResult, SendReport
from batch_sender.errors import BatchSenderError, for_python
from batch_sender.i18n import _, is_warning
from batch_sender.offloop import run_to_end
from batch_sender.options import (
    Account,
    PathLike,
    Reading,
    SendingPolicy,
    SendKeywords,
    grouped,
    refuse_unknown,
)

if TYPE_CHECKING:
    import asyncio

    from batch_sender.check.inputs import Opened
    from batch_sender.esms.protocol import Message
    from batch_sender.journal.records import Outcome
    from batch_sender.sending.plan import SendJob


async def send_async(
    input: PathLike,
    output: PathLike,
    *,
    account: Account | None = None,
    reading: Reading | None = None,
    policy: SendingPolicy | None = None,
    sandbox: bool = False,
    simulate: bool = False,
    resend_stale: bool = False,
    resend_changed: bool = False,
    limit: int | None = None,
    send_at: str | None = None,
    excel: bool = False,
    test_to: str | None = None,
    summary_json: PathLike | None = None,
    on_row: Callable[[RowResult], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_info: Callable[[str], None] | None = None,
    on_skipped_row: Callable[[RowResult], None] | None = None,
    progress_every: float = 10.0,
    stop: asyncio.Event | None = None,
    **options: Unpack[SendKeywords],
) -> SendReport:
    """Send `input`'s valid rows; write one result row per input row to `output`.

    The account, how the input is read and the pace are `account`, `reading`
    and `policy`; any of their fields may be given as keyword arguments
    instead (`api_key=...`, `rate=20`), which win over the groups'.
    `simulate` sends to a simulator started for this run (no keys needed);
    `sandbox` passes eSMS's Sandbox "1" (validated, not delivered). `limit`
    sends only the first rows still to send; `send_at` schedules delivery
    ("2026-12-01 09:00", Vietnam time unless an offset is given).
    `test_to` sends only the first valid row's message, to that follower id
    (yours), filed apart from the campaign: its result file is not written
    and a later send still sends every row; the report's `test` holds it.

    Rerunning with the same input and output continues the campaign. Setting
    `stop`, or cancelling the task, stops the run the way Ctrl-C does: no new
    request starts, those in flight finish and are recorded, and the result
    file is written (a cancelled task then raises CancelledError; cancelled
    twice, it abandons the requests in flight). `on_row` hears each row's
    outcome, `on_progress` the count of rows done, `on_info` the plan lines,
    `on_skipped_row` each row this run did not send (invalid, duplicate,
    excluded, unsent) as its result row is written.

    It logs to the `batch_sender` logger: the plan lines, warnings, a
    progress line every `progress_every` seconds, the summary.
    Raises InputError or UsageError before anything is sent.
    """
    from batch_sender.offloop import in_thread

    refuse_unknown("send", options, Account, Reading, SendingPolicy)
    account = grouped(Account, account, options)
    reading = grouped(Reading, reading, options)
    policy = grouped(SendingPolicy, policy, options)
    input_path, output_path = Path(input), Path(output)
    summary_path = None if summary_json is None else Path(summary_json)
    await in_thread(_import_send_path, simulate)
    from batch_sender.check.inputs import is_stream, open_input, with_image_checks
    from batch_sender.errors import UsageError
    from batch_sender.esms.protocol import SendOptions
    from batch_sender.journal.files import journal_path
    from batch_sender.results.paths import check_output_path, check_side_file
    from batch_sender.sending.config import SendConfig
    from batch_sender.sending.plan import SendJob
    from batch_sender.sending.progress import LOGGER, ProgressLog
    from batch_sender.sending.schedule import (
        InThePast,
        campaign_has_sent,
        passed_line,
        send_date,
    )
    from batch_sender.settings import require_account

    if summary_path is not None:
        taken = [input_path, output_path, journal_path(output_path)]
        check_side_file(summary_path, taken=taken, what="{opt:summary_json}")
    opened: Opened | None = None
    plan: list[str] = []
    try:
        # Inside: a refusal from here on replaces the last run's summary, which a
        # scheduler would otherwise read as this run's.
        check_output_path(output_path, input_path, resumes=True)
        test_uid = None
        if test_to is not None:
            from batch_sender.results.paths import check_names
            from batch_sender.sending.test_message import check_test_to, test_sends_names

            test_uid = check_test_to(test_to)
            check_names(output_path, test_sends_names(output_path))
        if reading.campaign_id is None and is_stream(input_path):
            # A pipe's name (/dev/fd/63) changes from run to run: its RequestIds would too.
            raise UsageError(
                _(
                    "the input {name} is a pipe: pass {opt:campaign_id} so that the same command "
                    "rerun continues this campaign and sends nobody twice",
                    name=repr(str(input_path)),
                )
            )
        if not simulate:
            require_account(
                account.base_url,
                account.allow_insecure_http,
                {
                    "api_key": account.api_key,
                    "secret_key": account.secret_key,
                    "oaid": account.oaid,
                },
            )
        send_date_value, passed = None, None
        if send_at is not None:
            try:
                send_date_value = send_date(send_at)
            except InThePast as exc:
                passed = exc  # refused unless the campaign is under way (its id is known below)
        opened = await in_thread(open_input, input_path, reading)
        if passed is not None and not await in_thread(
            campaign_has_sent, journal_path(output_path), opened.campaign.id
        ):
            raise passed
        if reading.check_images:
            opened = await with_image_checks(opened)
        config = SendConfig(
            base_url=account.base_url,
            credentials=credentials(account, simulate=simulate),
            options=SendOptions(
                callback_url=account.callback_url, sandbox=sandbox, send_date=send_date_value
            ),
            timeout=policy.timeout,
            rate=policy.rate,
            concurrency=policy.concurrency,
            max_attempts=policy.max_attempts,
            backoff=policy.backoff,
        )
        progress_log = ProgressLog(interval=progress_every)
        job = SendJob(
            table=opened.table,
            output=output_path,
            campaign=opened.campaign,
            config=config,
            excel=excel or opened.table.source.has_bom,
            resend_stale=resend_stale,
            resend_changed=resend_changed,
            checks=opened.checks,
            limit=limit,
            on_row=None if on_row is None else _row_results(on_row),
            on_progress=_progress(progress_log, on_progress),
            on_skipped_row=None if on_skipped_row is None else _skipped_rows(on_skipped_row),
        )

        def info(line: str) -> None:
            plan.append(line)
            LOGGER.log(logging.WARNING if is_warning(line) else logging.INFO, line)
            if on_info is not None:
                on_info(line)

        if passed is not None:
            # eSMS's pages: no SendDate for a message that goes out at once.
            info(passed_line(passed.send_date))

        if simulate:
            from batch_sender.simulator.server import serve_for

            async with serve_for(config.credentials) as url:
                info(_("simulating eSMS at {url}", url=url))
                report = await _send(_with_base_url(job, url), opened, info, stop, plan, test_uid)
        else:
            report = await _send(job, opened, info, stop, plan, test_uid)
        progress_log.finish()
        _log_summary(report)
        if summary_path is not None:
            await in_thread(write_summary, summary_path, report.as_dict())
    except BatchSenderError as exc:
        if summary_path is not None:
            # Last run's summary must not stand for this one: a scheduler reads it.
            campaign_id = reading.campaign_id if opened is None else opened.campaign.id
            refusal = _refused(exc, input_path, output_path, campaign_id, plan)
            with contextlib.suppress(OSError):
                await in_thread(write_summary, summary_path, refusal)
        raise
    return report


def _refused(
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
        "error": str(exc),
        "warnings": [line for line in plan if is_warning(line)],
        "exit_code": int(exc.exit_code),
    }


@options_of(send_async)
def send(input: PathLike, output: PathLike, **options: Any) -> SendReport:
    """`send_async`, for callers without an event loop of their own."""
    return run_to_end(send_async(input, output, **options))


async def _send(
    job: SendJob,
    opened: Opened,
    info: Callable[[str], None],
    stop: asyncio.Event | None,
    plan: list[str],
    test_to: str | None = None,
) -> SendReport:
    from batch_sender.api.campaign import send_campaign
    from batch_sender.check.inputs import input_summary

    if test_to is not None:
        return await _send_test(job, opened, plan, test_to, stop)
    run = await send_campaign(job, info, stop)
    tally = run.tally
    stopped = run.stopped
    return SendReport(
        input=job.table.source.display,
        output=job.output,
        campaign_id=opened.campaign.id,
        rows=tally.rows,
        counts=counts(tally.statuses),
        codes=dict(sorted(tally.codes.items())),
        problems=problems(tally),
        sent=run.sent,
        seconds=run.seconds,
        stopped=None if stopped is None else for_python(stopped.reason),
        stop_template=None if stopped is None else stopped.reason,
        stop_code="" if stopped is None else stopped.code,
        exit_code=run.exit_code,
        plan=plan,
        warnings=list(run.warnings),
        tally=tally,
        inputs=input_summary(opened.checks),
        adopted=run.adopted,
    )


async def _send_test(
    job: SendJob, opened: Opened, plan: list[str], test_to: str, stop: asyncio.Event | None
) -> SendReport:
    from batch_sender.exit_codes import ExitCode
    from batch_sender.results.tally import Tally
    from batch_sender.sending.test_message import send_test

    sent = await send_test(job, test_to, stop)
    outcome, stopped = sent.outcome, sent.stopped
    if stopped is not None:
        code = ExitCode.STOPPED if stopped.outside else ExitCode.INTERRUPTED
    else:
        code = ExitCode.OK if outcome.status == "accepted" else ExitCode.NEEDS_ATTENTION
    return SendReport(
        input=job.table.source.display,
        output=job.output,
        campaign_id=opened.campaign.id,
        rows=0,
        counts={},
        codes={outcome.code: 1} if outcome.code else {},
        problems=(),
        sent=1,
        seconds=sent.seconds,
        stopped=None if stopped is None else for_python(stopped.reason),
        stop_template=None if stopped is None else stopped.reason,
        stop_code="" if stopped is None else stopped.code,
        exit_code=code,
        plan=plan,
        tally=Tally(),
        test=RowResult(
            row=sent.line,
            request_id=sent.message.request_id,
            status=outcome.status,
            code=outcome.code,
            smsid=outcome.smsid,
            message=outcome.message,
        ),
        test_to=test_to,
    )


def _import_send_path(simulate: bool) -> None:
    import batch_sender.api.campaign
    import batch_sender.check.chunks
    import batch_sender.check.inputs

    if simulate:
        import batch_sender.simulator.server  # noqa: F401


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


def _progress(
    log: Callable[[int, int], None], on_progress: Callable[[Progress], None] | None
) -> Callable[[int, int], None]:
    """The progress lines logged, and the caller's callback told."""
    told = None if on_progress is None else progress(on_progress)

    def heard(done: int, total: int) -> None:
        log(done, total)
        if told is not None:
            told(done, total)

    return heard


def _skipped_rows(on_row: Callable[[RowResult], None]) -> Callable[[int, str, str, str], None]:
    def skipped(line: int, status: str, request_id: str, message: str) -> None:
        on_row(
            RowResult(
                row=line, request_id=request_id, status=status, code="", smsid="", message=message
            )
        )

    return skipped


def _log_summary(report: SendReport) -> None:
    from batch_sender.results.tally import rate_line
    from batch_sender.sending.progress import LOGGER

    if report.test is None:  # a test message has its own line, not a campaign's counts
        LOGGER.info(f"{report.input.name}: {report.tally.status_line()}")
    if report.sent:
        LOGGER.info(rate_line(report.sent, report.seconds))
    if report.stopped is not None:
        LOGGER.warning(_("stopped: {reason}", reason=report.stopped))


def _with_base_url(job: SendJob, url: str) -> SendJob:
    config = dataclasses.replace(job.config, base_url=url, simulated=True)
    return dataclasses.replace(job, config=config)
