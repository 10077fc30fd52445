"""`callbacks`, `status` and `report`: what became of a campaign's messages."""

from __future__ import annotations

from pathlib import Path

import click

from batch_sender import Account, Listening
from batch_sender.cli.base import cli, handle_errors, timeout_option
from batch_sender.cli.spoken import option
from batch_sender.i18n import N_, _, status_word, warning


@cli.command()
@click.argument("results", metavar="RESULTS.csv", type=click.Path(path_type=Path, dir_okay=False))
@option(
    "--port",
    type=click.IntRange(0, 65535),
    default=Listening.port,
    show_default=True,
    help=N_("Port to listen on for eSMS's reports."),
)
@option(
    "--host",
    default=Listening.host,
    show_default=True,
    help=N_("Address to listen on (0.0.0.0 to take connections from other machines)."),
)
@option(
    "--token",
    default=None,
    help=N_(
        "Take reports only at /esms/callback/TOKEN (eSMS signs nothing: use a long random one)."
    ),
)
@option(
    "--every",
    type=click.FloatRange(min=0.5),
    default=Listening.every,
    show_default=True,
    help=N_("Seconds between rewrites of the result file."),
)
@option(
    "--campaign-id",
    default=None,
    help=N_(
        "Start before `send`: the campaign that will write RESULTS.csv (send's --campaign-id, "
        "or its INPUT's file name without extension)."
    ),
)
@handle_errors
def callbacks(
    results: Path, port: int, host: str, token: str | None, every: float, campaign_id: str | None
) -> None:
    """Receive eSMS's delivery reports for a campaign and write them into its results.

    eSMS calls the campaign's CallbackUrl (send --callback-url) with an HTTP
    GET once a message's fate is known. This server records each report in
    the campaign's journal and keeps the result file's delivery,
    delivery_error and delivered_at columns up to date. It can run while
    `send` runs. Stop it with Ctrl-C; it writes the result file once more.

    \b
    Examples:
      batch-sender callbacks results.csv --port 8080 --token "$(openssl rand -hex 16)"
      batch-sender send campaign.csv -o results.csv \\
          --callback-url https://hooks.example.vn/esms/callback/TOKEN
    """
    import asyncio

    from batch_sender import CallbacksReport, serve_callbacks_async
    from batch_sender.cli.console import Interrupts, echo

    def say(line: str) -> None:
        echo(line, err=True)

    interrupts = Interrupts(say, first=None)
    listening = Listening(host=host, port=port, token=token, every=every)

    async def run() -> CallbacksReport:
        stop = asyncio.Event()
        with interrupts.watching(stop):
            return await serve_callbacks_async(
                results, listening=listening, campaign_id=campaign_id, on_info=say, stop=stop
            )

    with interrupts.installed():
        try:
            receiver = asyncio.run(run())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None
    counts = ", ".join(
        _("{n:,} {what}", n=n, what=status_word(k)) for k, n in receiver.counts.items()
    )
    click.echo(
        _(
            "callbacks stopped: {received:,} reports ({counts}), {unknown:,} before send "
            "recorded their message, {rejected:,} malformed requests",
            received=receiver.received,
            counts=counts or _("none"),
            unknown=receiver.unknown,
            rejected=receiver.rejected,
        )
    )
    if receiver.unanswered:
        click.echo(
            _(
                "{n:,} reports could not be stored and got no answer: eSMS sends them again",
                n=receiver.unanswered,
            ),
            err=True,
        )
    for line in receiver.warnings:
        click.echo(warning(line), err=True)


@cli.command()
@click.argument("results", metavar="RESULTS.csv", type=click.Path(path_type=Path, dir_okay=False))
@option(
    "--status-base-url",
    envvar="ESMS_STATUS_BASE_URL",
    default=Account.status_base_url,
    show_default=True,
    help=N_("eSMS's status look-up base [env: ESMS_STATUS_BASE_URL]."),
)
@option("--api-key", envvar="ESMS_API_KEY", help=N_("eSMS ApiKey [env: ESMS_API_KEY]."))
@option("--secret-key", envvar="ESMS_SECRET_KEY", help=N_("eSMS SecretKey [env: ESMS_SECRET_KEY]."))
@option("--oaid", envvar="ESMS_OAID", help=N_("Zalo OA id [env: ESMS_OAID]."))
@option("--allow-insecure-http", is_flag=True, help=N_("Allow plain http to another host."))
@timeout_option()
@handle_errors
def status(
    results: Path,
    status_base_url: str,
    api_key: str | None,
    secret_key: str | None,
    oaid: str | None,
    allow_insecure_http: bool,
    timeout: float,
) -> None:
    """Ask eSMS (GetCallback) what became of accepted messages with no final report.

    It sends the account's keys, the OAID and the messages' SMSIDs, 200 a
    request and at most 20 requests a second. eSMS only knows messages
    that were sent with a CallbackUrl; rows accepted through 124 have no
    SMSID to ask about. The answers go into the journal and the result
    file's delivery columns. Exit status 3 when eSMS refuses the keys or
    the OAID, or cannot be reached.

    \b
    Examples:
      batch-sender status results.csv
    """
    from batch_sender import status as look_up

    account = Account(
        api_key=api_key,
        secret_key=secret_key,
        oaid=oaid,
        status_base_url=status_base_url,
        allow_insecure_http=allow_insecure_http,
    )
    outcome = look_up(results, account=account, timeout=timeout, on_info=_to_stderr)
    if outcome.asked:
        click.echo(
            _(
                "eSMS knew {known:,} of the {asked:,} asked",
                known=outcome.known,
                asked=outcome.asked,
            )
        )
    shown = ", ".join(
        _("{n:,} {what}", n=n, what=status_word(k)) for k, n in outcome.counts.items()
    )
    click.echo(_("reports: {counts}", counts=shown or _("nothing new")))


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)


@cli.command()
@click.argument("results", metavar="RESULTS.csv", type=click.Path(path_type=Path, dir_okay=False))
@option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=N_("Also write the same as one self-contained HTML page, with a chart over time."),
)
@option(
    "--failed-ids",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=N_("Write the user_ids whose delivery failed, one a line: a list for --exclude."),
)
@option(
    "--user-id-column",
    "id_column",  # not Reading's: by default the column the campaign was sent with
    default=None,
    help=N_(
        "The result file's column with the user_id (default: the one the campaign was sent with)."
    ),
)
@handle_errors
def report(
    results: Path, html_path: Path | None, failed_ids: Path | None, id_column: str | None
) -> None:
    """The campaign at a glance: accepted, delivered, failed and why, what it cost.

    Percentages of delivered and failed are of the messages eSMS accepted;
    the reasons are Zalo's error codes in plain words; the cost is the sum
    of eSMS's TotalPrice over the delivery reports received so far
    (`callbacks` or `status` bring them in).

    \b
    Examples:
      batch-sender report results.csv
      batch-sender report results.csv --html report.html
      batch-sender report results.csv --failed-ids failed.txt
      batch-sender send next.csv -o next-results.csv --exclude failed.txt
    """
    from batch_sender import report as campaign_report

    campaign = campaign_report(
        results, html=html_path, failed_ids=failed_ids, user_id_column=id_column
    )
    for line in campaign.lines:
        click.echo(line)
    if campaign.html is not None:
        click.echo(_("html: {path}", path=campaign.html))
    if campaign.failed_ids is not None:
        click.echo(
            _(
                "failed ids: {n:,} in {path}",
                n=campaign.failed_count,
                path=campaign.failed_ids,
            )
        )
