"""The rate limiter on a fake clock (looptime): no one-second window over the rate."""

from __future__ import annotations

import asyncio

import pytest
from aiolimiter import AsyncLimiter

from batch_sender.ratelimit import FairLimiter, Unlimited, rate_limiter
from batch_sender.simulator import busiest_second


async def start_times(limiter: AsyncLimiter | FairLimiter | Unlimited, count: int) -> list[float]:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(count)))
    return starts


# Rates whose interval is a binary fraction: on a fake clock that never moves by
# itself, aiolimiter's float residue (1 - 0.1 * 10 != 0) would spin forever at
# one instant. Real time always moves on; the integration tests use rate 10.
@pytest.mark.looptime
@pytest.mark.parametrize("rate", [1, 8, 64, 0.5])
async def test_no_second_sees_more_than_the_rate(rate: float) -> None:
    starts = await start_times(rate_limiter(rate), 200)
    assert busiest_second(starts) <= max(rate, 1)
    # ...and it does not hold back either: 200 requests take 199 intervals.
    assert max(starts) - min(starts) == pytest.approx(199 / rate, rel=0.01)


@pytest.mark.looptime
async def test_aiolimiter_default_bucket_would_burst_twice_the_rate() -> None:
    # Why ratelimit.py sizes the bucket at one: the default starts full.
    starts = await start_times(AsyncLimiter(10, 1), 40)
    assert busiest_second(starts) > 10


@pytest.mark.looptime
async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = rate_limiter(8)
    loop = asyncio.get_running_loop()
    order: list[int] = []

    async def row(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    tasks = []
    for n in range(20):
        tasks.append(asyncio.create_task(row(n)))
        await asyncio.sleep(0.01)  # rows keep arriving while others wait
    await asyncio.gather(*tasks)
    assert order == list(range(20))
    assert loop.time() >= 19 / 8


@pytest.mark.looptime
async def test_rate_zero_means_no_limit() -> None:
    starts = await start_times(rate_limiter(0), 100)
    assert max(starts) == min(starts)


def test_busiest_second_counts_a_sliding_window() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert busiest_second([0.9, 1.1, 1.2, 1.8]) == 4
