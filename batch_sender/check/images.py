"""--check-images: fetch each distinct image URL once, concurrently, before anything is sent.

Zalo takes a jpg, png or (animated) gif of at most 1 MB; a broken banner is found here, with
its reason on every row that uses it, instead of as a rejection per row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import aiohttp

from batch_sender.check.chunks import checked_chunks
from batch_sender.check.request_ids import Campaign
from batch_sender.check.rules import VALID, Checks
from batch_sender.i18n import _
from batch_sender.sheet.reader import Table

MAX_IMAGE_BYTES = 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
CONCURRENCY = 16
TIMEOUT = 20.0


def image_urls(table: Table, campaign: Campaign, checks: Checks) -> list[str]:
    """The distinct image URLs of the input's valid rows (reads the whole input)."""
    urls: set[str] = set()
    for _chunk, checked in checked_chunks(table, campaign, checks, request_ids=False):
        urls.update(checked.loc[checked["status"] == VALID, "url"].tolist())
    return sorted(urls)


async def image_problems(urls: Iterable[str]) -> dict[str, str]:
    """URL -> what is wrong with its image, for the URLs that fail."""
    gate = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> tuple[str, str | None]:
            async with gate:
                return url, await image_problem(session, url)

        found = await asyncio.gather(*(one(url) for url in urls))
    return {url: problem for url, problem in found if problem is not None}


async def image_problem(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as response:
            if response.status != 200:
                return _("image: HTTP {status}", status=response.status)
            kind = response.content_type.lower()
            if kind not in IMAGE_TYPES:
                return _("not an image: {kind}", kind=kind or _("no Content-Type"))
            size = response.content_length
            if size is not None and size > MAX_IMAGE_BYTES:
                return _("image is {size:.1f} MB, the limit is 1 MB", size=size / MAX_IMAGE_BYTES)
            total = 0
            async for block in response.content.iter_chunked(64 * 1024):
                total += len(block)
                if total > MAX_IMAGE_BYTES:  # no (or a false) Content-Length: stop reading
                    return _("image is over 1 MB, the limit is 1 MB")
    except TimeoutError:
        return _("image: no answer within {seconds:g} s", seconds=TIMEOUT)
    except aiohttp.ClientError as exc:
        return _("image: cannot fetch it ({error})", error=type(exc).__name__)
    return None
