"""`balance` and `audience`: what the account and its Zalo OA know, asked of eSMS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, Unpack

from batch_sender.api.common import credentials, options_of, progress
from batch_sender.api.reports import AudienceReport, BalanceReport, Progress
from batch_sender.errors import UsageError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import _
from batch_sender.offloop import run_to_end
from batch_sender.options import (
    Account,
    AccountKeywords,
    PathLike,
    PolicyKeywords,
    SendingPolicy,
    grouped,
    refuse_unknown,
)

# --- balance -------------------------------------------------------------------


async def balance_async(
    *,
    account: Account | None = None,
    timeout: float = SendingPolicy.timeout,
    **options: Unpack[AccountKeywords],
) -> BalanceReport:
    """The account's balance, and so whether its keys work (eSMS's GetBalance_json).

    Needs only the keys (no OAID). Raises AccountError when eSMS refuses
    them or cannot be reached, UsageError when they are missing.
    """
    from batch_sender.sending.account import account_balance
    from batch_sender.settings import require_account

    refuse_unknown("balance", options, Account)
    account = grouped(Account, account, options)
    api_key, secret_key = account.api_key, account.secret_key
    require_account(
        account.base_url,
        account.allow_insecure_http,
        {"api_key": api_key, "secret_key": secret_key},
    )
    assert api_key is not None and secret_key is not None
    amount = await account_balance(account.base_url, api_key, secret_key, timeout)
    return BalanceReport(balance=amount)


@options_of(balance_async)
def balance(**options: Any) -> BalanceReport:
    """`balance_async`, for callers without an event loop of their own."""
    return run_to_end(balance_async(**options))


# --- audience ------------------------------------------------------------------


class AudienceKeywords(AccountKeywords, PolicyKeywords, total=False):
    """The account's and the pace's fields, as `audience` takes them flat."""


async def audience_async(
    output: PathLike,
    *,
    start: dt.date,
    end: dt.date,
    followers_only: bool = False,
    non_followers: bool = False,
    tag: str = "",
    account: Account | None = None,
    policy: SendingPolicy | None = None,
    excel: bool = False,
    simulate: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    on_info: Callable[[str], None] | None = None,
    **options: Unpack[AudienceKeywords],
) -> AudienceReport:
    """Write `output`: the OA's user_ids that interacted from `start` to `end` (QueryListUID).

    A CSV with one `user_id` column, each id once, as text: `send` (with a
    template and an image URL) and `exclude` read it as it is. `tag` keeps
    users with that OA tag; `followers_only` / `non_followers` one side.
    eSMS lists at most 10,000 ids per query: a longer range is split by days
    on its own. A single day over that cannot be listed whole: the file has
    what eSMS could list, each such day is in `warnings`, and the exit code
    is 1. `policy`'s rate, timeout and retries pace the QueryListUID calls.
    `simulate` asks a simulator's synthetic OA instead (no keys needed).
    Raises AccountError when eSMS refuses the account or cannot be reached.
    """
    import dataclasses
    import time

    from batch_sender.followers import query as q
    from batch_sender.offloop import in_thread
    from batch_sender.results.paths import check_side_file
    from batch_sender.settings import require_account

    refuse_unknown("audience", options, Account, SendingPolicy)
    account = grouped(Account, account, options)
    policy = grouped(SendingPolicy, policy, options)
    output = Path(output)
    began = time.monotonic()
    if followers_only and non_followers:
        raise UsageError(_("give {opt:followers_only} or {opt:non_followers}, not both"))
    if output.suffix.lower() != ".csv":
        raise UsageError(_("{output}: the audience file must be a .csv file", output=output))
    check_side_file(output, taken=[], what="{opt:output}")
    follower = q.FOLLOWERS if followers_only else q.NON_FOLLOWERS if non_followers else q.EVERYONE
    query = q.AudienceQuery(start, end, follower, tag.strip())
    if not simulate:
        require_account(
            account.base_url,
            account.allow_insecure_http,
            {"api_key": account.api_key, "secret_key": account.secret_key, "oaid": account.oaid},
        )
    config = q.AudienceConfig(
        base_url=account.base_url,
        credentials=credentials(account, simulate=simulate),
        rate=policy.rate,
        timeout=policy.timeout,
        max_attempts=policy.max_attempts,
        backoff=policy.backoff,
        **({} if policy.concurrency is None else {"concurrency": policy.concurrency}),
    )
    heard = None if on_progress is None else progress(on_progress)
    if not simulate:
        result = await q.fetch_audience(config, query, on_progress=heard)
    else:
        from batch_sender.simulator.server import serve_for

        async with serve_for(config.credentials) as url:
            if on_info is not None:
                on_info(_("simulating eSMS at {url}", url=url))
            local = dataclasses.replace(config, base_url=url)
            result = await q.fetch_audience(local, query, on_progress=heard)
    await in_thread(q.write_audience, output, result.user_ids, bom=excel)
    return AudienceReport(
        output=output,
        users=len(result.user_ids),
        description=query.describe(),
        requests=result.requests,
        seconds=time.monotonic() - began,
        exit_code=ExitCode.NEEDS_ATTENTION if result.incomplete else ExitCode.OK,
        warnings=[shortfall.describe() for shortfall in result.incomplete],
    )


@options_of(audience_async)
def audience(output: PathLike, **options: Any) -> AudienceReport:
    """`audience_async`, for callers without an event loop of their own."""
    return run_to_end(audience_async(output, **options))
