"""The rate limiter on a fake clock (looptime): no one-second window over the rate."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from batch_sender.sending.ratelimit import WINDOW_MARGIN, RateLimiter, Unlimited, rate_limiter
from batch_sender.simulator.server import busiest_second


async def start_times(limiter: RateLimiter | Unlimited, count: int) -> list[float]:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(count)))
    return starts


@pytest.mark.looptime
@pytest.mark.parametrize("rate", [1, 7, 10, 100, 2.5])
async def test_no_second_sees_more_than_the_rate(rate: float) -> None:
    starts = await start_times(rate_limiter(rate), 300)
    assert busiest_second(starts) <= rate
    # ...and it does not hold back: the long-run rate is the limit itself.
    achieved = (len(starts) - 1) / (max(starts) - min(starts))
    assert achieved == pytest.approx(int(rate) / (1 + WINDOW_MARGIN), rel=0.01)


@pytest.mark.looptime
async def test_requests_are_spread_not_burst() -> None:
    starts = await start_times(rate_limiter(100), 50)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.005 - 1e-9  # never two at once: half an interval at the least
    assert sum(gaps) / len(gaps) == pytest.approx(0.01 * (1 + WINDOW_MARGIN), rel=0.02)


@pytest.mark.looptime
async def test_late_wakeups_are_caught_up() -> None:
    # An event loop busy elsewhere wakes every waiter 2 ms late.
    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.002)

    starts = await start_times(RateLimiter(100, sleep=late_sleep), 500)
    assert busiest_second(starts) <= 100
    assert (len(starts) - 1) / (max(starts) - min(starts)) >= 97


@pytest.mark.looptime
async def test_stalls_of_the_event_loop_are_made_up() -> None:
    # Every tenth wake-up comes 30 ms late, as when a chunk is parsed on the loop.
    sleeps = 0

    async def stalling_sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        await asyncio.sleep(seconds + (0.03 if sleeps % 10 == 0 else 0.0))

    starts = await start_times(RateLimiter(100, sleep=stalling_sleep), 500)
    assert busiest_second(starts) <= 100
    assert (len(starts) - 1) / (max(starts) - min(starts)) >= 97
    gaps = [b - a for a, b in itertools.pairwise(sorted(starts))]
    assert min(gaps) >= 0.005 - 1e-9  # made up without bursts


@pytest.mark.looptime
async def test_below_one_a_second() -> None:
    starts = await start_times(rate_limiter(0.5), 4)
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([2.04, 2.04, 2.04])


@pytest.mark.looptime
async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = rate_limiter(8)
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


@pytest.mark.looptime
async def test_rate_zero_means_no_limit() -> None:
    starts = await start_times(rate_limiter(0), 100)
    assert max(starts) == min(starts)


def test_busiest_second_counts_a_sliding_window() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert busiest_second([0.9, 1.1, 1.2, 1.8]) == 4
