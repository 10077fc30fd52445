"""After the send: `report` (the campaign at a glance), `status` (GetCallback), `serve_callbacks`.

Each works on a campaign that exists: a result file with its journal
beside it (`serve_callbacks` may start one first, given the campaign's id).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from batch_sender.api.common import options_of
from batch_sender.api.reports import CallbacksReport, CampaignReport, StatusReport
from batch_sender.i18n import _
from batch_sender.offloop import run_to_end
from batch_sender.options import (
    Account,
    AccountKeywords,
    Listening,
    ListeningKeywords,
    PathLike,
    SendingPolicy,
    grouped,
    refuse_unknown,
)

if TYPE_CHECKING:
    import asyncio


# --- report --------------------------------------------------------------------


async def report_async(
    results: PathLike,
    *,
    html: PathLike | None = None,
    failed_ids: PathLike | None = None,
    user_id_column: str | None = None,
) -> CampaignReport:
    """The campaign at a glance: accepted, delivered, failed and why, what it cost.

    Read from the result file `results` and its journal. `html` also writes
    the same as one self-contained page with a chart over time; `failed_ids`
    writes the user_ids whose delivery failed, one a line (a suppression
    list for `exclude`): the ids the journal's sends went to, or those of the
    result file's `user_id_column` (by default the column the campaign was
    sent with, found through the journal, else `user_id`).
    """
    from batch_sender.offloop import in_thread

    return await in_thread(
        report, results, html=html, failed_ids=failed_ids, user_id_column=user_id_column
    )


@options_of(report_async)
def report(
    results: PathLike,
    *,
    html: PathLike | None = None,
    failed_ids: PathLike | None = None,
    user_id_column: str | None = None,
) -> CampaignReport:
    """`report_async`'s twin, run in the calling thread."""
    from batch_sender.delivery.html_page import html_report
    from batch_sender.delivery.report import gather_figures, write_failed_ids
    from batch_sender.results.files import atomic_text_file
    from batch_sender.results.paths import check_side_file, require_campaign

    results = Path(results)
    html_path = None if html is None else Path(html)
    ids_path = None if failed_ids is None else Path(failed_ids)
    require_campaign(results, rewrites=False)
    taken = [results]
    for path, what in ((html_path, "{opt:html}"), (ids_path, "{opt:failed_ids}")):
        if path is not None:
            check_side_file(path, taken=taken, what=what)
            taken.append(path)
    figures = gather_figures(results, user_id_column, need_ids=ids_path is not None)
    if html_path is not None:
        with atomic_text_file(html_path) as f:
            f.write(html_report(figures))
    if ids_path is not None:
        write_failed_ids(ids_path, figures)
    return CampaignReport(
        results=results,
        campaign_id=figures.campaign_id,
        rows=figures.rows,
        counts=dict(figures.statuses),
        deliveries=dict(figures.deliveries),
        cost=str(figures.cost),
        lines=list(figures.text()),
        html=html_path,
        failed_ids=ids_path,
        failed_count=len(figures.failed_ids),
    )


# --- status --------------------------------------------------------------------


async def status_async(
    results: PathLike,
    *,
    account: Account | None = None,
    timeout: float = SendingPolicy.timeout,
    on_info: Callable[[str], None] | None = None,
    **options: Unpack[AccountKeywords],
) -> StatusReport:
    """Ask eSMS's GetCallback what became of accepted messages with no final report.

    Sends the account's keys, its OAID and the messages' SMSIDs (to
    `account.status_base_url`, 200 a request, 20 requests a second). eSMS
    only knows messages sent with a CallbackUrl. The answers go into the
    journal and the result file's delivery columns. `on_info` hears what is
    asked. Raises AccountError when eSMS refuses the keys or the OAID, or
    cannot be reached; UsageError when keys are missing.
    """
    from batch_sender.delivery.server import check_results
    from batch_sender.delivery.status import look_up
    from batch_sender.esms.protocol import Credentials
    from batch_sender.results.paths import require_campaign
    from batch_sender.settings import require_account

    refuse_unknown("status", options, Account)
    account = grouped(Account, account, options)
    results = Path(results)
    check_results(results)
    require_campaign(results)
    api_key, secret_key, oaid = account.api_key, account.secret_key, account.oaid
    require_account(
        account.status_base_url,
        account.allow_insecure_http,
        {"api_key": api_key, "secret_key": secret_key, "oaid": oaid},
        option="{opt:status_base_url}",
    )
    assert api_key is not None and secret_key is not None and oaid is not None
    found = await look_up(
        results,
        status_base_url=account.status_base_url,
        credentials=Credentials(api_key, secret_key, oaid),
        timeout=timeout,
        say=on_info or _quiet,
    )
    return StatusReport(
        results=results,
        asked=found.asked,
        known=found.known,
        without_smsid=found.without_smsid,
        counts=dict(sorted(found.found.items())),
    )


@options_of(status_async)
def status(results: PathLike, **options: Any) -> StatusReport:
    """`status_async`, for callers without an event loop of their own."""
    return run_to_end(status_async(results, **options))


# --- callbacks -----------------------------------------------------------------


async def serve_callbacks_async(
    results: PathLike,
    *,
    listening: Listening | None = None,
    campaign_id: str | None = None,
    on_info: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    **options: Unpack[ListeningKeywords],
) -> CallbacksReport:
    """Receive eSMS's delivery reports for a campaign and write them into its results.

    eSMS calls the campaign's CallbackUrl with an HTTP GET once a message's
    fate is known; this server (where `listening` says) records each report
    in the campaign's journal and keeps the result file's delivery columns
    up to date, also while a `send` runs. It runs until `stop` is set or the
    task is cancelled, then writes the result file once more. With
    `campaign_id` it may start before the campaign's first send. `on_info`
    hears where it listens and any trouble.
    """
    from batch_sender.delivery.server import callback_path, check_results, check_token
    from batch_sender.delivery.server import serve_callbacks as receive
    from batch_sender.results.paths import require_campaign

    refuse_unknown("serve_callbacks", options, Listening)
    listening = grouped(Listening, listening, options)
    results = Path(results)
    check_results(results)
    check_token(listening.host, listening.token)
    callback_path(listening.token)
    # Last: with campaign_id it makes the campaign's journal.
    require_campaign(results, campaign_id=campaign_id, may_start=True)
    receiver = await receive(
        results,
        host=listening.host,
        port=listening.port,
        token=listening.token,
        every=listening.every,
        say=on_info or _quiet,
        stop=stop,
    )
    warnings = []
    if receiver.unmatched:
        warnings.append(
            _(
                "{n:,} reports kept match no message of this campaign yet: is send writing "
                "to another result file than {results}?",
                n=receiver.unmatched,
                results=results,
            )
        )
    return CallbacksReport(
        results=results,
        received=receiver.received,
        counts=dict(sorted(receiver.counts.items())),
        unknown=receiver.unknown,
        unanswered=receiver.unanswered,
        unmatched=receiver.unmatched,
        rejected=receiver.rejected,
        warnings=warnings,
    )


@options_of(serve_callbacks_async)
def serve_callbacks(results: PathLike, **options: Any) -> CallbacksReport:
    """`serve_callbacks_async`, for callers without an event loop; Ctrl-C stops it."""
    return run_to_end(serve_callbacks_async(results, **options))


def _quiet(line: str) -> None:
    pass
