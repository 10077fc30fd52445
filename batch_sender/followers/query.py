"""Audience: the OA's user_ids that interacted in a date range, whole (QueryListUID).

QueryListUID lists 50 ids a call and takes an Offset of at most 9,950, so
one query yields at most 10,000 ids. A range whose Total is over that is
cut in two by days, again and again; a single day still over 10,000 is
asked for followers and non-followers apart; a part that is still too big
is listed as far as eSMS allows and reported in `AudienceResult.incomplete`
(never silently cut short). An id met in several parts is kept once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from batch_sender.errors import AccountError, UsageError
from batch_sender.esms import protocol as esms
from batch_sender.esms.client import HttpRefused, Transient, new_session, post_json
from batch_sender.esms.retry import Sleep, retrying
from batch_sender.i18n import N_, _
from batch_sender.options import SendingPolicy
from batch_sender.sending.ratelimit import rate_limiter

QUERY_LIMIT = esms.QUERY_UID_MAX_OFFSET + esms.QUERY_UID_PAGE
"""The most ids one query can list (10,000)."""
FOLLOWERS = "1"
NON_FOLLOWERS = "0"
EVERYONE = ""

Progress = Callable[[int, int], None]
"""(distinct ids found so far, ids expected in all): called after every page."""


@dataclass(frozen=True)
class AudienceQuery:
    start: dt.date
    end: dt.date
    follower: str = EVERYONE
    """"1" followers only, "0" non-followers only, "" everyone (eSMS's IsFollower)."""
    tag: str = ""
    """Only users with this OA tag (eSMS's TagName); "" for all."""

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise UsageError(
                _(
                    "--from {start:%Y-%m-%d} is after --to {end:%Y-%m-%d}: give the earlier day "
                    "first",
                    start=self.start,
                    end=self.end,
                )
            )
        if self.follower not in (FOLLOWERS, NON_FOLLOWERS, EVERYONE):
            raise UsageError(
                _("IsFollower must be 1, 0 or empty, not {follower}", follower=repr(self.follower))
            )

    def describe(self) -> str:
        text = _(_WHO[self.follower])
        if self.tag:
            text += _(" tagged {tag}", tag=repr(self.tag))
        if self.start == self.end:
            return _("{who} who interacted on {day:%d/%m/%Y}", who=text, day=self.start)
        return _(
            "{who} who interacted {start:%d/%m/%Y}-{end:%d/%m/%Y}",
            who=text,
            start=self.start,
            end=self.end,
        )


_WHO = {FOLLOWERS: N_("followers"), NON_FOLLOWERS: N_("non-followers"), EVERYONE: N_("users")}


@dataclass(frozen=True)
class Shortfall:
    """A part eSMS cannot list whole: one day (and follower state) over 10,000 ids."""

    day: dt.date
    follower: str
    total: int

    def describe(self) -> str:
        return _(
            "{day:%d/%m/%Y} has {total:,} {who}; eSMS lists at most {most:,} per query, "
            "so {missing:,} of them are missing",
            day=self.day,
            total=self.total,
            who=_(_WHO[self.follower]),
            most=QUERY_LIMIT,
            missing=self.total - QUERY_LIMIT,
        )


@dataclass
class AudienceResult:
    query: AudienceQuery
    user_ids: list[str] = field(default_factory=list)
    """Each id once, in the order eSMS listed them."""
    requests: int = 0
    incomplete: list[Shortfall] = field(default_factory=list)


@dataclass(frozen=True)
class AudienceConfig:
    base_url: str
    credentials: esms.Credentials
    rate: float = SendingPolicy.rate
    """QueryListUID calls per second at most (0 = no limit)."""
    timeout: float = SendingPolicy.timeout
    max_attempts: int = SendingPolicy.max_attempts
    backoff: float = SendingPolicy.backoff
    concurrency: int = 4


@dataclass(frozen=True)
class _Page:
    total: int
    users: list[str]


class _Lister:
    def __init__(
        self,
        config: AudienceConfig,
        session: aiohttp.ClientSession,
        result: AudienceResult,
        on_progress: Progress | None,
        sleep: Sleep,
    ) -> None:
        self.config = config
        self.session = session
        self.result = result
        self.on_progress = on_progress
        self.sleep = sleep
        self.limiter = rate_limiter(config.rate)
        self.slots = asyncio.Semaphore(config.concurrency)
        self.url = config.base_url.rstrip("/") + esms.QUERY_UID_PATH
        self.seen: set[str] = set()
        self.expected = 0

    def take(self, users: list[str]) -> None:
        for user_id in users:
            if user_id not in self.seen:
                self.seen.add(user_id)
                self.result.user_ids.append(user_id)
        if self.on_progress is not None:
            self.on_progress(len(self.seen), max(self.expected, len(self.seen)))

    async def list_range(self, start: dt.date, end: dt.date, follower: str) -> None:
        first = await self.page(start, end, follower, 0)
        if not self.expected:
            self.expected = first.total  # the whole range's distinct users
        self.take(first.users)
        # At 10,000 exactly, split too: a Total that eSMS capped at what one query
        # can list would look the same, and splitting a true 10,000 costs little.
        if first.total >= QUERY_LIMIT and start < end:
            middle = start + (end - start) // 2
            await self.list_range(start, middle, follower)
            await self.list_range(middle + dt.timedelta(days=1), end, follower)
            return
        if first.total >= QUERY_LIMIT and follower == EVERYONE:
            await self.list_range(start, end, FOLLOWERS)
            await self.list_range(start, end, NON_FOLLOWERS)
            return
        if first.total > QUERY_LIMIT:
            self.result.incomplete.append(Shortfall(start, follower, first.total))
        last = min(first.total, QUERY_LIMIT)
        offsets = range(esms.QUERY_UID_PAGE, last, esms.QUERY_UID_PAGE)

        async def one(offset: int) -> None:
            self.take((await self.page(start, end, follower, offset)).users)

        await _all(one(offset) for offset in offsets)

    async def page(self, start: dt.date, end: dt.date, follower: str, offset: int) -> _Page:
        credentials = self.config.credentials
        body: dict[str, Any] = {
            "ApiKey": credentials.api_key,
            "SecretKey": credentials.secret_key,
            "OAID": credentials.oaid,
            "Offset": offset,
            "Count": esms.QUERY_UID_PAGE,
            "FromDate": start.strftime(esms.QUERY_UID_DATE),
            "ToDate": end.strftime(esms.QUERY_UID_DATE),
            "IsFollower": follower,
            "TagName": self.result.query.tag,
        }
        config = self.config
        async with self.slots:
            try:
                async for attempt in retrying(
                    max_attempts=config.max_attempts, backoff=config.backoff, sleep=self.sleep
                ):
                    with attempt:
                        await self.limiter.acquire()
                        self.result.requests += 1
                        data = await post_json(self.session, self.url, body, config.timeout)
                        return _page(data)
            except Transient as exc:
                raise AccountError(
                    "", _("eSMS cannot be reached ({reason}): rerun later", reason=exc.reason)
                ) from None
            except HttpRefused as exc:
                raise AccountError(
                    "", _("{exc}: check ESMS_BASE_URL (--base-url)", exc=exc)
                ) from None
        raise AssertionError("unreachable: retrying runs at least once")  # pragma: no cover


async def _all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the jobs together; the first error cancels the others and is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if (error := task.exception()) is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _page(data: dict[str, Any]) -> _Page:
    """One answer's ids and Total, or the error it means (Transient for 160)."""
    code = str(data.get("CodeResult", "")).strip()
    message = str(data.get("ErrorMessage") or "").strip()
    if code in esms.RETRYABLE_CODES:
        raise Transient(f"CodeResult {code} {message}".strip(), ambiguous=False)
    if code == "161":
        raise UsageError(
            _(
                "eSMS refused the dates (161 {message}); give --from and --to as YYYY-MM-DD",
                message=message,
            )
        )
    if code == "162":
        raise AccountError(code, _("eSMS refused the paging (162 {message})", message=message))
    if code in esms.ACCOUNT_CODES:
        raise AccountError(code, _(esms.ACCOUNT_CODES[code]))
    if code != esms.ACCEPTED:
        shown = f"{code} {message}".strip() or "no CodeResult"
        raise AccountError(code, _("eSMS answered QueryListUID with {shown}", shown=shown))
    payload = data.get("Data")
    if not isinstance(payload, dict) or not isinstance(payload.get("Users", []), list):
        raise Transient("QueryListUID answer has no Data.Users", ambiguous=False)
    try:
        total = int(str(payload.get("Total", 0)).strip() or 0)
    except ValueError:
        raise Transient("QueryListUID answer's Total is not a number", ambiguous=False) from None
    users = [str(u).strip() for u in payload.get("Users") or [] if str(u).strip()]
    return _Page(total, users)


async def fetch_audience(
    config: AudienceConfig,
    query: AudienceQuery,
    *,
    on_progress: Progress | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AudienceResult:
    """Every user_id QueryListUID lists for the query, each once."""
    result = AudienceResult(query)
    session = new_session(config.concurrency)
    try:
        lister = _Lister(config, session, result, on_progress, sleep)
        await lister.list_range(query.start, query.end, query.follower)
    finally:
        await session.close()
    return result


def write_audience(path: Path, user_ids: list[str], *, bom: bool = False) -> None:
    """A CSV with one `user_id` column, written whole or not at all.

    Ids are written as text, never as numbers: a 19-digit id stays those 19
    digits, and the file is read as it is by `send` and by `--exclude`.
    """
    from batch_sender.results.files import atomic_text_file

    with atomic_text_file(path, bom=bom) as f:
        f.write("user_id\r\n")
        f.writelines(f"{user_id}\r\n" for user_id in user_ids)
