"""`audience` and `balance`: what the account and its Zalo OA know, asked of eSMS."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from batch_sender import Account, SendingPolicy
from batch_sender.cli.base import (
    Day,
    account_options,
    cli,
    handle_errors,
    rate_option,
    take,
    timeout_option,
)
from batch_sender.cli.spoken import option
from batch_sender.i18n import N_, _, ngettext, number


@cli.command()
@account_options
@option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help=N_("The audience file to write (CSV, one user_id column)."),
)
@option(
    "--from",
    "start",
    type=Day(),
    required=True,
    help=N_("First day of interaction, YYYY-MM-DD."),
)
@option(
    "--to",
    "end",
    type=Day(),
    required=True,
    help=N_("Last day of interaction (included), YYYY-MM-DD."),
)
@option("--followers-only", is_flag=True, help=N_("Only users who follow the OA."))
@option("--non-followers", is_flag=True, help=N_("Only users who do not follow the OA."))
@option("--tag", default="", help=N_("Only users with this OA tag (eSMS TagName)."))
@rate_option(N_("QueryListUID requests per second at most (0 = no limit)."))
@timeout_option()
@option(
    "--excel",
    is_flag=True,
    help=N_("Write the CSV with a BOM (Excel then keeps the ids as text when opened)."),
)
@option(
    "--simulate",
    is_flag=True,
    help=N_("Ask a built-in eSMS simulator's synthetic OA (no credentials needed)."),
)
@option("-q", "--quiet", is_flag=True, help=N_("No progress bar."))
@handle_errors
def audience(
    output: Path,
    start: dt.date,
    end: dt.date,
    followers_only: bool,
    non_followers: bool,
    tag: str,
    excel: bool,
    simulate: bool,
    quiet: bool,
    **options: Any,
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
    from batch_sender import Progress
    from batch_sender import audience as list_audience
    from batch_sender.cli.console import counter_bar

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    with counter_bar(_("listing"), enabled=not quiet and sys.stderr.isatty()) as update:

        def on_progress(progress: Progress) -> None:
            update(progress.done, progress.total)

        listed = list_audience(
            output,
            start=start,
            end=end,
            followers_only=followers_only,
            non_followers=non_followers,
            tag=tag,
            account=take(Account, options),
            policy=take(SendingPolicy, options),
            excel=excel,
            simulate=simulate,
            on_progress=on_progress,
            on_info=say,
        )
    requests = ngettext("{n:,} request", "{n:,} requests", listed.requests)
    click.echo(
        _(
            "audience: {users:,} {description} ({requests}, {seconds:.1f} s)",
            users=listed.users,
            description=listed.description,
            requests=requests,
            seconds=listed.seconds,
        )
    )
    click.echo(_("written: {path}", path=output))
    for line in listed.warnings:
        click.echo(_("Warning: {message}", message=line), err=True)
    sys.exit(listed.exit_code)


@cli.command()
@account_options
@timeout_option(N_("Seconds to wait for the answer."))
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
    from batch_sender import balance as account_balance

    account = Account(
        api_key=api_key,
        secret_key=secret_key,
        oaid=oaid,
        base_url=base_url,
        allow_insecure_http=allow_insecure_http,
    )
    amount = account_balance(account=account, timeout=timeout).balance
    try:
        shown = number(int(amount))
    except ValueError:
        shown = amount
    click.echo(_("balance: {amount} (the keys work)", amount=shown))
