"""The `batch-sender` command: thin Click commands over the library.

Heavy modules (pandas, aiohttp) are imported inside the commands, so that
`batch-sender --help` answers at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from batch_sender import __version__, esms
from batch_sender.errors import BatchSenderError, UsageError, for_cli
from batch_sender.exit_codes import ExitCode
from batch_sender.settings import DELIMITER_NAMES, check_base_url, require_account

__all__ = ["DELIMITER_NAMES", "check_base_url", "cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(command: F) -> F:
    """One line on stderr and the right exit code; never a traceback for a known error."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BatchSenderError as exc:
            click.echo(f"Error: {exc.cli_message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted: rerun the same command to continue.", err=True)
            sys.exit(ExitCode.INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def input_options(command: F, *, outputs: bool = True) -> F:
    """INPUT and how to read it: shared by validate and send (and preview, without outputs)."""
    decorators = [
        click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path)),
        click.option(
            "--user-id-column",
            default="user_id",
            show_default=True,
            help="Column with the Zalo user_id.",
        ),
        click.option(
            "--text-column", default="text", show_default=True, help="Column with the text."
        ),
        click.option(
            "--url-column", default="url", show_default=True, help="Column with the image URL."
        ),
        click.option(
            "--encoding",
            default=None,
            help="Encoding of a CSV input (default: UTF-8, with or without BOM).",
        ),
        click.option(
            "--delimiter",
            type=click.Choice(list(DELIMITER_NAMES), case_sensitive=False),
            metavar="NAME",
            default=None,
            help="CSV delimiter: comma, semicolon, tab or pipe; the characters , and ; "
            "work too (default: detected from the header line).",
        ),
        click.option("--sheet", default=None, help="XLSX sheet name (default: the first sheet)."),
        click.option(
            "--campaign-id",
            default=None,
            help="Seeds every RequestId (default: INPUT's file name without extension).",
        ),
        click.option(
            "--chunk-rows",
            type=click.IntRange(min=1),
            default=5_000,
            hidden=True,  # memory/speed trade-off; tests use it to cross chunk borders
        ),
        click.option(
            "--template",
            default=None,
            help="One text for every row, {column} placeholders filled from the row "
            "({{ and }} are literal braces); the text column is then not needed.",
        ),
        click.option(
            "--template-file",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="Read --template from this UTF-8 file.",
        ),
        click.option(
            "--image-url",
            default=None,
            help="One image for every row (http(s), .jpg/.jpeg/.png); the url column is "
            "then not needed.",
        ),
        click.option(
            "--exclude",
            "exclude",
            multiple=True,
            type=click.Path(path_type=Path, dir_okay=False),
            help="Suppression list: a CSV with a user_id column, or one id per line. "
            "Matching rows are `excluded`, never sent. Repeatable.",
        ),
        click.option(
            "--check-images",
            is_flag=True,
            help="Fetch each distinct image URL once: 200, image/jpeg or image/png, at most 1 MB.",
        ),
    ]
    if outputs:
        decorators += [
            click.option(
                "--excel",
                is_flag=True,
                help="Write the result CSV with a BOM so that Excel shows Vietnamese correctly.",
            ),
            click.option(
                "--summary-json",
                type=click.Path(path_type=Path, dir_okay=False),
                default=None,
                help="Also write the end-of-run summary as JSON (for schedulers).",
            ),
        ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def reading_options(command: F) -> F:
    """INPUT and how to read it, without the result file's options: for preview."""
    return input_options(command, outputs=False)


class Day(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """A day as YYYY-MM-DD, the one way of writing it that nobody reads two ways."""

    name = "YYYY-MM-DD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a day written YYYY-MM-DD (e.g. 2026-11-30)", param, ctx)


def timeout_option(help: str = "Seconds to wait for each answer.") -> Callable[[F], F]:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        help=help,
    )


def rate_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--rate",
        type=click.FloatRange(min=0),
        default=10.0,
        show_default=True,
        help=f"{what} per second at most (0 = no limit).",
    )


def account_options(command: F) -> F:
    """The account and where eSMS is: shared by send and balance."""
    decorators = [
        click.option("--api-key", envvar="ESMS_API_KEY", help="eSMS ApiKey [env: ESMS_API_KEY]."),
        click.option(
            "--secret-key", envvar="ESMS_SECRET_KEY", help="eSMS SecretKey [env: ESMS_SECRET_KEY]."
        ),
        click.option("--oaid", envvar="ESMS_OAID", help="Zalo OA id [env: ESMS_OAID]."),
        click.option(
            "--base-url",
            envvar="ESMS_BASE_URL",
            default=esms.DEFAULT_BASE_URL,
            show_default=True,
            help="eSMS API base [env: ESMS_BASE_URL].",
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            help="Allow a plain http:// --base-url that is not this machine "
            "(keys travel in clear).",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batch-sender")
def cli() -> None:
    """Send Zalo OA messages with a photo to many followers through eSMS.vn.

    \b
    Check a sheet first (sends nothing):
      batch-sender validate campaign.csv -o report.csv
    Then send it:
      batch-sender send campaign.csv -o results.csv
    Try it all against a local eSMS simulator:
      batch-sender send campaign.csv -o results.csv --simulate

    Settings come from options, the environment, or a .env file in the
    working directory (ESMS_API_KEY, ESMS_SECRET_KEY, ESMS_OAID, ...).
    """
    from dotenv import load_dotenv

    # The environment wins over .env, and options win over both (Click envvar).
    load_dotenv(Path.cwd() / ".env", override=False)


@cli.command()
@input_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the report: the result file's columns, status valid/invalid/duplicate.",
)
@handle_errors
def validate(
    input_path: Path,
    output: Path | None,
    excel: bool,
    **read_options: Any,
) -> None:
    """Check every row of INPUT and send nothing (a dry run).

    Finds every bad row with its line number and what is wrong: user_id not
    digits or rounded by a spreadsheet (7.80038E+18), empty or too long text,
    an image URL that is not http(s) or not .jpg/.jpeg/.png, and exact
    repeats. Exit status: 0 all valid, 1 some rows need attention, 2 the file
    cannot be used.

    \b
    Examples:
      batch-sender validate campaign.csv
      batch-sender validate crm-export.xlsx --sheet "Tháng 12" -o report.csv
      batch-sender validate export.csv --user-id-column zalo_id --url-column banner
    """
    from batch_sender.api import validate as validate_input
    from batch_sender.console import echo, print_counts

    report = validate_input(input_path, output, excel=excel, **read_options)
    print_counts(input_path.name, report)
    if output is not None:
        echo(f"report: {output}")
    sys.exit(report.exit_code)


@cli.command()
@input_options
@account_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    metavar="RESULTS.csv",
    help="Result file (.csv or .xlsx); its journal is kept beside it as "
    "RESULTS.csv.journal.sqlite.",
)
@click.option(
    "--callback-url",
    envvar="ESMS_CALLBACK_URL",
    help="Where eSMS reports delivery [env: ESMS_CALLBACK_URL].",
)
@rate_option("Requests")
@timeout_option()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=1024),
    default=None,
    help="Requests in flight at most (default: rate x observed latency x 1.5, at least 4; "
    "16 with --rate 0).",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1, max=100),
    default=5,
    show_default=True,
    help="HTTP requests per row at most (network errors, 5xx, 429, 160, 105).",
)
@click.option(
    "--backoff",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds before the first retry; doubles each time, with jitter.",
)
@click.option("--sandbox", is_flag=True, help='Pass eSMS\'s Sandbox "1": validated, not delivered.')
@click.option(
    "--simulate",
    is_flag=True,
    help="Send to a built-in eSMS simulator started for this run (no credentials needed).",
)
@click.option(
    "--resend-stale",
    is_flag=True,
    help="Resend rows whose earlier request got no answer over 24 hours ago.",
)
@click.option(
    "--resend-changed",
    is_flag=True,
    help="Send the new version of rows sent earlier whose text or url has changed since "
    "(by default their earlier send stands).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help="Send only the first N rows still to send (a test batch); the rest stay unsent, "
    "and the same command without --limit sends them.",
)
@click.option(
    "--send-at",
    default=None,
    help='Schedule delivery (eSMS SendDate): "2026-12-01 09:00", Vietnam time unless an '
    "offset is given.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON line per event on stderr (each row's outcome with its row and "
    "RequestId), instead of the plan lines and the progress bar.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no plan lines.")
@handle_errors
def send(
    input_path: Path,
    output: Path,
    log_format: str,
    quiet: bool,
    **options: Any,
) -> None:
    """Send INPUT's valid rows; the result file (-o) gets one row per input row.

    Each row goes out with a RequestId derived from the campaign and its
    content, so eSMS refuses a second delivery for 24 hours. Running the same
    command again continues the campaign: accepted rows are never sent again;
    failed and unsent rows are.

    \b
    Exit status: 0 every row accepted; 1 some rows need attention;
    2 bad input or options (nothing sent); 3 stopped by an account error
    (keys, balance, OAID); 130 interrupted.

    \b
    Examples:
      export ESMS_API_KEY=... ESMS_SECRET_KEY=... ESMS_OAID=...
      batch-sender send campaign.csv -o results.csv
      batch-sender send campaign.csv -o results.csv --rate 20 --callback-url https://example.vn/esms
      batch-sender send campaign.csv -o results.csv --simulate
      batch-sender send crm.xlsx -o results.xlsx --template "Chào {ten}, ..." --limit 5
      batch-sender send campaign.csv -o results.csv --exclude unsubscribed.csv
    """
    import asyncio

    from batch_sender.api import RowResult, send_async
    from batch_sender.console import (
        INTERRUPTED_LINE,
        Interrupts,
        ProgressBar,
        echo,
        log_json,
        print_counts,
    )
    from batch_sender.summary import rate_line

    json_log = log_format == "json"

    def say(line: str) -> None:
        if json_log:
            log_json({"event": "info", "message": line})
        elif not quiet or line.startswith("warning:"):  # --quiet drops plan lines, not warnings
            echo(line, err=True)

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

    bar = ProgressBar(enabled=not quiet and not json_log and sys.stderr.isatty())
    interrupts = Interrupts(say)

    async def run() -> Any:
        stop = asyncio.Event()
        with interrupts.watching(stop):
            return await send_async(
                input_path,
                output,
                on_row=on_row if json_log else None,
                on_progress=bar,
                on_info=say,
                stop=stop,
                **options,
            )

    with interrupts.installed():
        try:
            report = asyncio.run(run())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None  # a second signal: handle_errors says so
        finally:
            bar.close()
        print_counts(input_path.name, report)
        if report.sent:
            echo(rate_line(report.sent, report.seconds))
        echo(f"results: {output}")
        if report.stopped is not None:
            if report.exit_code == ExitCode.INTERRUPTED:
                line = INTERRUPTED_LINE
            else:
                line = f"Error: stopped: {for_cli(report.stop_template or '')}"
            if json_log:
                log_json({"event": "stopped", "message": line, "exit_code": int(report.exit_code)})
            else:
                echo(line, err=True)
    sys.exit(report.exit_code)


@cli.command()
@reading_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    metavar="PREVIEW.html",
    help="The page to write (one self-contained HTML file).",
)
@click.option(
    "--rows",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many messages to show.",
)
@handle_errors
def preview(input_path: Path, output: Path, rows: int, **read_options: Any) -> None:
    """Show the first messages as a follower would see them in Zalo; send nothing.

    Takes send's input options (--template, --image-url, columns, --exclude,
    ...). Writes one HTML page: the first --rows messages, each with its
    image above its text, and every row that would not be sent, with why.
    Exit status: 0 every row would be sent; 1 some would not; 2 bad input.

    \b
    Examples:
      batch-sender preview campaign.csv -o preview.html
      batch-sender preview audience.csv -o preview.html --rows 5 \\
          --template "Chào bạn, ..." --image-url https://cdn.example.vn/thang12.jpg
    """
    from batch_sender.inputs import open_checked
    from batch_sender.preview import build_preview, html_preview
    from batch_sender.results import atomic_text_file, check_side_file

    if output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{output}: the preview must be an .html file")
    check_side_file(output, taken=[input_path], what="-o")
    opened = open_checked(input_path, **read_options)
    page = build_preview(opened.table, opened.campaign, opened.checks, rows)
    with atomic_text_file(output) as f:
        f.write(html_preview(page))
    click.echo(
        f"{input_path.name}: {page.rows:,} rows: {page.to_send:,} would be sent, "
        f"{page.left_out_count:,} would not"
    )
    click.echo(f"preview: {output} (the first {len(page.messages):,} messages)")
    sys.exit(ExitCode.NEEDS_ATTENTION if page.left_out_count else ExitCode.OK)


@cli.command()
@account_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The audience file to write (CSV, one user_id column).",
)
@click.option(
    "--from",
    "start",
    type=Day(),
    required=True,
    help="First day of interaction, YYYY-MM-DD.",
)
@click.option(
    "--to",
    "end",
    type=Day(),
    required=True,
    help="Last day of interaction (included), YYYY-MM-DD.",
)
@click.option("--followers-only", is_flag=True, help="Only users who follow the OA.")
@click.option("--non-followers", is_flag=True, help="Only users who do not follow the OA.")
@click.option("--tag", default="", help="Only users with this OA tag (eSMS TagName).")
@rate_option("QueryListUID requests")
@timeout_option()
@click.option(
    "--excel",
    is_flag=True,
    help="Write the CSV with a BOM (Excel then keeps the ids as text when opened).",
)
@click.option(
    "--simulate",
    is_flag=True,
    help="Ask a built-in eSMS simulator's synthetic OA (no credentials needed).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def audience(
    api_key: str | None,
    secret_key: str | None,
    oaid: str | None,
    base_url: str,
    allow_insecure_http: bool,
    output: Path,
    start: dt.date,
    end: dt.date,
    followers_only: bool,
    non_followers: bool,
    tag: str,
    rate: float,
    timeout: float,
    excel: bool,
    simulate: bool,
    quiet: bool,
) -> None:
    """List the OA's user_ids that interacted between two days (QueryListUID).

    Writes each user_id once, as text, in a CSV with one `user_id` column that
    `send` (with --template and --image-url) and `--exclude` read as it is.
    eSMS lists at most 10,000 ids per query: a longer range is split by days
    on its own, so the audience comes out whole. Exit status: 0 all listed;
    1 a single day holds over 10,000 ids and eSMS could not list them all
    (the file has what it could list; the missing count is shown); 2 bad
    options; 3 eSMS refused the account (101, 799) or could not be reached.

    \b
    Examples:
      batch-sender audience -o audience.csv --from 2026-11-01 --to 2026-11-30
      batch-sender audience -o vip.csv --from 2026-11-01 --to 2026-11-30 \\
          --followers-only --tag VIP
      batch-sender audience -o audience.csv --from 2026-11-01 --to 2026-11-30 --simulate
    """
    from batch_sender.audience import (
        EVERYONE,
        FOLLOWERS,
        NON_FOLLOWERS,
        AudienceConfig,
        AudienceQuery,
        fetch_audience,
        write_audience,
    )
    from batch_sender.esms import Credentials

    if followers_only and non_followers:
        raise UsageError("give --followers-only or --non-followers, not both")
    if output.suffix.lower() != ".csv":
        raise UsageError(f"{output}: the audience file must be a .csv file")
    from batch_sender.results import check_side_file

    check_side_file(output, taken=[], what="-o")
    query = AudienceQuery(
        start,
        end,
        FOLLOWERS if followers_only else NON_FOLLOWERS if non_followers else EVERYONE,
        tag.strip(),
    )
    if not simulate:
        require_account(
            base_url,
            allow_insecure_http,
            {"api_key": api_key, "secret_key": secret_key, "oaid": oaid},
        )
    from batch_sender import simulator as sim

    config = AudienceConfig(
        base_url=base_url,
        credentials=Credentials(
            api_key or sim.SIMULATOR_API_KEY,
            secret_key or sim.SIMULATOR_SECRET_KEY,
            oaid or sim.SIMULATOR_OAID,
        ),
        rate=rate,
        timeout=timeout,
    )
    show = not quiet and sys.stderr.isatty()

    async def run() -> Any:
        import dataclasses

        from batch_sender.progress import counter_bar

        with counter_bar("listing", enabled=show) as progress:
            if not simulate:
                return await fetch_audience(config, query, on_progress=progress)
            async with sim.serve(sim.Simulator(sim.SimulatorConfig())) as url:
                if not quiet:
                    click.echo(f"simulating eSMS at {url}", err=True)
                local = dataclasses.replace(config, base_url=url)
                return await fetch_audience(local, query, on_progress=progress)

    import asyncio
    import time

    began = time.monotonic()
    result = asyncio.run(run())
    write_audience(output, result.user_ids, bom=excel)
    seconds = time.monotonic() - began
    click.echo(
        f"audience: {len(result.user_ids):,} {query.describe()} "
        f"({result.requests:,} requests, {seconds:.1f} s)"
    )
    click.echo(f"written: {output}")
    for shortfall in result.incomplete:
        click.echo(f"Warning: {shortfall.describe()}", err=True)
    sys.exit(ExitCode.NEEDS_ATTENTION if result.incomplete else ExitCode.OK)


@cli.command()
@account_options
@timeout_option("Seconds to wait for the answer.")
@handle_errors
def balance(
    api_key: str | None,
    secret_key: str | None,
    oaid: str | None,
    base_url: str,
    allow_insecure_http: bool,
    timeout: float,
) -> None:
    """Show the account balance, and so whether the keys work (GetBalance_json).

    Exit status 0 when eSMS accepts the keys, 3 when it refuses them or
    cannot be reached, 2 when keys are missing.

    \b
    Examples:
      batch-sender balance
      batch-sender balance --api-key ... --secret-key ...
    """
    from batch_sender.campaign import account_balance

    require_account(
        base_url,
        allow_insecure_http,
        {"api_key": api_key, "secret_key": secret_key},
    )
    assert api_key is not None and secret_key is not None
    import asyncio

    amount = asyncio.run(account_balance(base_url, api_key, secret_key, timeout))
    try:
        shown = f"{int(amount):,}"
    except ValueError:
        shown = amount
    click.echo(f"balance: {shown} (the keys work)")


@cli.command()
@click.argument("results", metavar="RESULTS.csv", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on for eSMS's reports.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 to take connections from other machines).",
)
@click.option(
    "--token",
    default=None,
    help="Take reports only at /esms/callback/TOKEN (eSMS signs nothing: use a long random one).",
)
@click.option(
    "--every",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds between rewrites of the result file.",
)
@click.option(
    "--campaign-id",
    default=None,
    help="Start before `send`: the campaign that will write RESULTS.csv (send's --campaign-id, "
    "or its INPUT's file name without extension).",
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
    from batch_sender.receiver import callback_path, check_results, check_token, serve_callbacks
    from batch_sender.results import require_campaign

    check_results(results)
    check_token(host, token)
    callback_path(token)
    # Last: with --campaign-id it makes the campaign's journal.
    require_campaign(results, campaign_id=campaign_id, may_start=True)
    import asyncio

    from batch_sender.console import Interrupts, echo

    def say(line: str) -> None:
        echo(line, err=True)

    interrupts = Interrupts(say, first=None)

    async def run() -> Any:
        stop = asyncio.Event()
        with interrupts.watching(stop):
            return await serve_callbacks(
                results, host=host, port=port, token=token, every=every, say=say, stop=stop
            )

    with interrupts.installed():
        try:
            receiver = asyncio.run(run())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None
    counts = ", ".join(f"{n:,} {k}" for k, n in sorted(receiver.counts.items())) or "none"
    click.echo(
        f"callbacks stopped: {receiver.received:,} reports ({counts}), "
        f"{receiver.unknown:,} for unknown messages, {receiver.rejected:,} malformed requests"
    )
    if receiver.unknown_dropped:
        click.echo(
            f"{receiver.unknown_dropped:,} of the reports for unknown messages were only "
            f"counted: at most {receiver.limits.unknown_kept:,} are kept"
        )
    if receiver.unknown:
        click.echo(
            f"warning: {receiver.unknown:,} reports matched no message of this campaign: "
            f"is send writing to another result file than {results}?",
            err=True,
        )


@cli.command()
@click.argument("results", metavar="RESULTS.csv", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--status-base-url",
    envvar="ESMS_STATUS_BASE_URL",
    default=esms.DEFAULT_STATUS_BASE_URL,
    show_default=True,
    help="eSMS's status look-up base [env: ESMS_STATUS_BASE_URL].",
)
@click.option("--api-key", envvar="ESMS_API_KEY", help="eSMS ApiKey [env: ESMS_API_KEY].")
@click.option(
    "--secret-key", envvar="ESMS_SECRET_KEY", help="eSMS SecretKey [env: ESMS_SECRET_KEY]."
)
@click.option("--oaid", envvar="ESMS_OAID", help="Zalo OA id [env: ESMS_OAID].")
@click.option("--allow-insecure-http", is_flag=True, help="Allow plain http to another host.")
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
    from batch_sender.lookup import look_up
    from batch_sender.receiver import check_results
    from batch_sender.results import require_campaign

    check_results(results)
    require_campaign(results)
    require_account(
        status_base_url,
        allow_insecure_http,
        {"api_key": api_key, "secret_key": secret_key, "oaid": oaid},
        option="{opt:status_base_url}",
    )
    assert api_key is not None and secret_key is not None and oaid is not None
    import asyncio

    outcome = asyncio.run(
        look_up(
            results,
            status_base_url=status_base_url,
            credentials=esms.Credentials(api_key, secret_key, oaid),
            timeout=timeout,
            say=lambda line: click.echo(line, err=True),
        )
    )
    if outcome.asked:
        click.echo(f"eSMS knew {outcome.known:,} of the {outcome.asked:,} asked")
    shown = ", ".join(f"{n:,} {k}" for k, n in sorted(outcome.found.items())) or "nothing new"
    click.echo(f"reports: {shown}")


@cli.command()
@click.argument("results", metavar="RESULTS.csv", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the same as one self-contained HTML page, with a chart over time.",
)
@click.option(
    "--failed-ids",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the user_ids whose delivery failed, one a line: a list for --exclude.",
)
@click.option(
    "--user-id-column",
    default="user_id",
    show_default=True,
    help="The result file's column with the user_id (for --failed-ids).",
)
@handle_errors
def report(
    results: Path, html_path: Path | None, failed_ids: Path | None, user_id_column: str
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
    from batch_sender.report import build_report, html_report, write_failed_ids
    from batch_sender.results import atomic_text_file, check_side_file, require_campaign

    require_campaign(results)
    taken = [results]
    for path, what in ((html_path, "--html"), (failed_ids, "--failed-ids")):
        if path is not None:
            check_side_file(path, taken=taken, what=what)
            taken.append(path)
    campaign = build_report(results, user_id_column, need_ids=failed_ids is not None)
    for line in campaign.text():
        click.echo(line)
    if html_path is not None:
        with atomic_text_file(html_path) as f:
            f.write(html_report(campaign))
        click.echo(f"html: {html_path}")
    if failed_ids is not None:
        write_failed_ids(failed_ids, campaign)
        click.echo(f"failed ids: {len(campaign.failed_ids):,} in {failed_ids}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8900, show_default=True, help="0 = any."
)
@click.option("--http-500", type=click.FloatRange(0, 1), default=0.0, help="Share of HTTP 500s.")
@click.option(
    "--code-160", type=click.FloatRange(0, 1), default=0.0, help="Share of CodeResult 160."
)
@click.option(
    "--drop",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of accepted requests whose connection is dropped before the answer.",
)
@click.option(
    "--html-502", type=click.FloatRange(0, 1), default=0.0, help="Share of HTML 502 pages."
)
@click.option(
    "--code-429",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of HTTP 429 with Retry-After (see --retry-after).",
)
@click.option(
    "--retry-after", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Seconds."
)
@click.option(
    "--slow",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of accepted requests answered only after --slow-seconds.",
)
@click.option(
    "--slow-seconds", type=click.FloatRange(min=0), default=5.0, show_default=True, help="Seconds."
)
@click.option(
    "--truncated",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of accepted requests answered with JSON cut short.",
)
@click.option(
    "--outage-every",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Go away every this many seconds (refuse connections, cut open ones).",
)
@click.option(
    "--outage-for", type=click.FloatRange(min=0), default=0.0, help="Seconds each outage lasts."
)
@click.option(
    "--latency", type=click.FloatRange(min=0), default=0.0, help="Seconds before each answer."
)
@click.option(
    "--balance", type=click.IntRange(min=0), default=10**12, help="Starting account balance."
)
@click.option(
    "--price", type=click.IntRange(min=0), default=300, show_default=True, help="Per message."
)
@click.option("--seed", type=int, default=None, help="Seed the fault dice (repeatable runs).")
@click.option(
    "--callback-delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds before the delivery report goes to a message's CallbackUrl.",
)
@click.option(
    "--zalo-fail",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of accepted messages Zalo then fails to deliver (-114).",
)
@click.option(
    "--callback-style",
    "callback_styles",
    type=click.Choice(["follower", "zns", "uid"]),
    multiple=True,
    help="How reports' error_info is encoded, as in eSMS's samples: follower (twice, "
    "with its time; the default), zns (a JSON string literal), uid (once). "
    "Repeat to take them in turn.",
)
@click.option(
    "--reserve-rejected",
    is_flag=True,
    help="Answer 124 for 24 hours to a RequestId it rejected (103, 210...): eSMS does not "
    "say whether it does.",
)
@click.option("--api-key", default=None, help="ApiKey it accepts (default SIMULATOR-API-KEY).")
@click.option(
    "--secret-key", default=None, help="SecretKey it accepts (default SIMULATOR-SECRET-KEY)."
)
@click.option("--oaid", default=None, help="OAID it accepts (default SIMULATOR-OAID).")
@click.option(
    "--audience-size",
    type=click.IntRange(min=0),
    default=2000,
    show_default=True,
    help="Users of the synthetic OA that QueryListUID lists.",
)
@click.option(
    "--audience-days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Days over which the OA's users interacted, ending on --audience-end.",
)
@click.option(
    "--audience-end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-11-30",
    show_default=True,
    help="The last day the OA's users interacted.",
)
@handle_errors
def simulator(
    host: str,
    port: int,
    http_500: float,
    code_160: float,
    drop: float,
    html_502: float,
    code_429: float,
    retry_after: float,
    slow: float,
    slow_seconds: float,
    truncated: float,
    outage_every: float,
    outage_for: float,
    latency: float,
    balance: int,
    price: int,
    seed: int | None,
    callback_delay: float,
    zalo_fail: float,
    callback_styles: tuple[str, ...],
    reserve_rejected: bool,
    api_key: str | None,
    secret_key: str | None,
    oaid: str | None,
    audience_size: int,
    audience_days: int,
    audience_end: Any,
) -> None:
    """Run a local eSMS stand-in that speaks the documented API.

    It answers the Zalo send, GetBalance_json, ZNS/GetListZOA, GetCallback and
    QueryListUID endpoints in the shapes of eSMS's own samples (QueryListUID
    over a synthetic OA of --audience-size users, seeded by --seed), calls
    each message's CallbackUrl as eSMS does, and can inject faults.
    GET /_simulator/stats shows what it accepted.

    \b
    Examples:
      batch-sender simulator --port 8900
      batch-sender simulator --port 8900 --http-500 0.05 --code-160 0.05 --drop 0.05
      batch-sender send campaign.csv -o results.csv --base-url http://127.0.0.1:8900 \\
          --api-key SIMULATOR-API-KEY --secret-key SIMULATOR-SECRET-KEY --oaid SIMULATOR-OAID
    """
    import asyncio

    from batch_sender import simulator as sim

    config = sim.SimulatorConfig(
        api_key=api_key or sim.SIMULATOR_API_KEY,
        secret_key=secret_key or sim.SIMULATOR_SECRET_KEY,
        oaid=oaid or sim.SIMULATOR_OAID,
        balance=balance,
        price=price,
        faults=sim.Faults(
            http_500=http_500,
            html_502=html_502,
            code_160=code_160,
            code_429=code_429,
            drop=drop,
            slow=slow,
            truncated=truncated,
            latency=latency,
            retry_after=retry_after,
            slow_seconds=slow_seconds,
            outage_every=outage_every,
            outage_for=outage_for,
        ),
        seed=seed,
        callback_delay=callback_delay,
        zalo_fail=zalo_fail,
        callback_styles=callback_styles or ("follower",),
        audience_size=audience_size,
        audience_days=audience_days,
        audience_end=audience_end.date(),
        reserve_rejected=reserve_rejected,
    )
    instance = sim.Simulator(config)

    async def run() -> None:
        try:
            async with sim.serve(instance, host, port) as url:
                click.echo(f"eSMS simulator listening on {url}", err=False)
                sys.stdout.flush()
                await asyncio.Event().wait()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        stats = instance.snapshot()
        click.echo(
            f"simulator stopped: {stats['requests']:,} requests, {stats['accepted']:,} accepted"
        )


def main() -> None:
    cli(prog_name="batch-sender")
