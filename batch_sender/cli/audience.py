"""`audience` and `balance`: what the account and its Zalo OA know, asked of eSMS."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from batch_sender.cli.base import (
    Day,
    account_options,
    cli,
    handle_errors,
    rate_option,
    timeout_option,
)
from batch_sender.errors import UsageError
from batch_sender.exit_codes import ExitCode
from batch_sender.settings import require_account


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
    from batch_sender.followers.query import (
        EVERYONE,
        FOLLOWERS,
        NON_FOLLOWERS,
        AudienceConfig,
        AudienceQuery,
        fetch_audience,
        write_audience,
    )

    if followers_only and non_followers:
        raise UsageError("give --followers-only or --non-followers, not both")
    if output.suffix.lower() != ".csv":
        raise UsageError(f"{output}: the audience file must be a .csv file")
    from batch_sender.results.paths import check_side_file

    check_side_file(output, taken=[], what="-o")
    query = AudienceQuery(
        start,
        end,
        FOLLOWERS if followers_only else NON_FOLLOWERS if non_followers else EVERYONE,
        tag.strip(),
    )
    from batch_sender.esms.protocol import Credentials

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
    config = AudienceConfig(
        base_url=base_url,
        credentials=credentials,
        rate=rate,
        timeout=timeout,
    )
    show = not quiet and sys.stderr.isatty()

    async def run() -> Any:
        import dataclasses

        from batch_sender.cli.console import counter_bar

        with counter_bar("listing", enabled=show) as progress:
            if not simulate:
                return await fetch_audience(config, query, on_progress=progress)
            from batch_sender.simulator.server import serve_for

            async with serve_for(credentials) as url:
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
    from batch_sender.sending.account import account_balance

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
