"""`status`: ask eSMS's GetCallback look-up for the accepted messages with no final report.

At most 200 ids a call and 20 calls a second, as eSMS documents. It only
knows messages that were sent with a CallbackUrl.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batch_sender import esms
from batch_sender.client import new_session
from batch_sender.delivery import BadReport, from_report
from batch_sender.journal import Journal, journal_path
from batch_sender.ratelimit import RateLimiter
from batch_sender.results import rewrite_deliveries
from batch_sender.retry import post_json_or_stop


async def look_up(
    results: Path,
    *,
    status_base_url: str,
    oaid: str,
    timeout: float,
    say: Callable[[str], None],
) -> Counter[str]:
    """Record what GetCallback knows; the deliveries it reported, counted by outcome."""
    journal = Journal(journal_path(results))
    found: Counter[str] = Counter()
    try:
        asked = journal.unreported()
        say(f"asking eSMS about {len(asked):,} accepted messages with no final report")
        url = status_base_url.rstrip("/") + esms.GET_CALLBACK_PATH
        limiter = RateLimiter(esms.GET_CALLBACK_RATE)
        session = new_session(4)
        try:
            for start in range(0, len(asked), esms.GET_CALLBACK_BATCH):
                batch = asked[start : start + esms.GET_CALLBACK_BATCH]
                await limiter.acquire()
                data = await post_json_or_stop(
                    session,
                    url,
                    {"ListRefid": batch, "OAId": oaid},
                    timeout=timeout,
                    max_attempts=3,
                    backoff=0.5,
                    unreachable=f"cannot reach eSMS's status look-up at {url}",
                    option="--status-base-url",
                )
                for record in _records(data):
                    try:
                        delivery = from_report(record)
                    except BadReport:
                        continue
                    journal.record_delivery(delivery)
                    found[delivery.delivery] += 1
                journal.commit()
        finally:
            await session.close()
        if found and journal.try_lock():
            try:
                rewrite_deliveries(results, journal)
            finally:
                journal.unlock()
    finally:
        journal.close()
    return found


def _records(data: Any) -> list[dict[str, Any]]:
    """The reports in an answer: a list, or a list under Data/data (shape undocumented)."""
    if isinstance(data, dict):
        data = data.get("Data", data.get("data", []))
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
