"""`validate`, `send` and `preview`: a campaign's sheet, checked, sent or shown."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from batch_sender import Reading, SendingPolicy
from batch_sender.cli.base import (
    account_options,
    cli,
    handle_errors,
    input_options,
    rate_option,
    reading_options,
    take,
    timeout_option,
)
from batch_sender.cli.spoken import option
from batch_sender.i18n import N_, _


@cli.command()
@input_options
@option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=N_(
        "Write the report: the result file's columns, status valid/invalid/duplicate/excluded."
    ),
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
    an image URL that is not http(s) or not .jpg/.jpeg/.png/.gif, a user_id
    already on an earlier row (duplicate: one message per follower per
    campaign), and ids on an --exclude list (excluded). Exit status: 0 all
    valid (or excluded), 1 some rows need attention, 2 the file cannot be
    used, 70 internal error (the error names the file with the details).

    \b
    Examples:
      batch-sender validate campaign.csv
      batch-sender validate crm-export.xlsx --sheet "Tháng 12" -o report.csv
      batch-sender validate export.csv --user-id-column zalo_id --url-column banner
    """
    from batch_sender import validate as validate_input
    from batch_sender.cli.console import echo, print_counts

    reading = take(Reading, read_options)
    report = validate_input(input_path, output, reading=reading, excel=excel, **read_options)
    print_counts(input_path.name, report)
    for line in report.notes:
        echo(line)
    if output is not None:
        echo(_("report: {path}", path=output))
    sys.exit(report.exit_code)


@cli.command()
@input_options
@account_options
@option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    metavar="RESULTS.csv",
    help=N_(
        "Result file (.csv or .xlsx); its journal is kept beside it as RESULTS.csv.journal.sqlite."
    ),
)
@option(
    "--callback-url",
    envvar="ESMS_CALLBACK_URL",
    help=N_("Where eSMS reports delivery [env: ESMS_CALLBACK_URL]."),
)
@rate_option(N_("Requests per second at most (0 = no limit)."))
@timeout_option()
@option(
    "--concurrency",
    type=click.IntRange(min=1, max=1024),
    default=SendingPolicy.concurrency,
    help=N_(
        "Requests in flight at most (default: rate x observed latency x 1.5, at least 4; "
        "16 with --rate 0)."
    ),
)
@option(
    "--max-attempts",
    type=click.IntRange(min=1, max=100),
    default=SendingPolicy.max_attempts,
    show_default=True,
    help=N_("HTTP requests per row at most (network errors, 5xx, 429, 160, 105)."),
)
@option(
    "--backoff",
    type=click.FloatRange(min=0),
    default=SendingPolicy.backoff,
    show_default=True,
    help=N_("Seconds before the first retry; doubles each time, with jitter."),
)
@option("--sandbox", is_flag=True, help=N_('Pass eSMS\'s Sandbox "1": validated, not delivered.'))
@option(
    "--simulate",
    is_flag=True,
    help=N_("Send to a built-in eSMS simulator started for this run (no credentials needed)."),
)
@option(
    "--resend-stale",
    is_flag=True,
    help=N_("Resend rows whose earlier request got no answer over 24 hours ago."),
)
@option(
    "--resend-changed",
    is_flag=True,
    help=N_(
        "Send the new version of rows sent earlier whose text or url has changed since "
        "(by default their earlier send stands)."
    ),
)
@option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help=N_(
        "Send only the first N rows still to send (a test batch); the rest stay unsent, "
        "and the same command without --limit sends them."
    ),
)
@option(
    "--test-to",
    metavar="USER_ID",
    default=None,
    help=N_(
        "Send only the first valid row's message, personalised, to this follower id "
        "(yours), to see it on your phone; the campaign is not touched (its result file is "
        "not written, every row is still sent later)."
    ),
)
@option(
    "--send-at",
    default=None,
    help=N_(
        'Schedule delivery (eSMS SendDate): "2026-12-01 09:00", Vietnam time unless an '
        "offset is given."
    ),
)
@option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help=N_(
        "json: one JSON line per event on stderr (each row's outcome with its row and "
        "RequestId), instead of the plan lines and the progress bar."
    ),
)
@option(
    "--progress-every",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help=N_("Seconds between two progress lines (stderr not a terminal, or --log-format json)."),
)
@option("-q", "--quiet", is_flag=True, help=N_("No progress bar and no plan lines."))
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
    2 bad input or options (nothing sent); 3 stopped by something outside
    the rows (keys, balance, OAID, eSMS unreachable, a full disk);
    70 internal error (a bug: the error names the file with the details;
    what was sent is recorded, the rerun is safe); 130 interrupted.

    \b
    Examples:
      export ESMS_API_KEY=... ESMS_SECRET_KEY=... ESMS_OAID=...
      batch-sender send campaign.csv -o results.csv
      batch-sender send campaign.csv -o results.csv --rate 20 --callback-url https://example.vn/esms
      batch-sender send campaign.csv -o results.csv --simulate
      batch-sender send crm.xlsx -o results.xlsx --template "Chào {ten}, ..." --limit 5
      batch-sender send campaign.csv -o results.csv --test-to 7800378501923859642
      batch-sender send campaign.csv -o results.csv --exclude unsubscribed.csv
    """
    from batch_sender.cli.console import run_send

    sys.exit(run_send(input_path, output, json_log=log_format == "json", quiet=quiet, **options))


@cli.command()
@reading_options
@option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    metavar="PREVIEW.html",
    help=N_("The page to write (one self-contained HTML file)."),
)
@option(
    "--rows",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help=N_("How many messages to show."),
)
@handle_errors
def preview(input_path: Path, output: Path, rows: int, **read_options: Any) -> None:
    """Show the first messages as a follower would see them in Zalo; send nothing.

    Takes send's input options (--template, --image-url, columns, --exclude,
    ...). Writes one HTML page: the first --rows messages, each with its
    image above its text, and every row that would not be sent, with why.
    Exit status: 0 every row would be sent; 1 some would not; 2 bad input;
    70 internal error.

    \b
    Examples:
      batch-sender preview campaign.csv -o preview.html
      batch-sender preview audience.csv -o preview.html --rows 5 \\
          --template "Chào bạn, ..." --image-url https://cdn.example.vn/thang12.jpg
    """
    from batch_sender import preview as write_preview

    page = write_preview(input_path, output, rows=rows, reading=take(Reading, read_options))
    click.echo(
        _(
            "{name}: {rows:,} rows: {to_send:,} would be sent, {left_out:,} would not",
            name=input_path.name,
            rows=page.rows,
            to_send=page.to_send,
            left_out=page.left_out,
        )
    )
    click.echo(_("preview: {path} (the first {n:,} messages)", path=output, n=page.shown))
    sys.exit(page.exit_code)
