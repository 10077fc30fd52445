"""Delivery reports to each message's CallbackUrl, sent as eSMS does.

A GET with the report in its query string, after callback_delay seconds,
retried (eSMS tries five times more) until the receiver answers below 500.
Zalo fails a zalo_fail share of the messages with its -114.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

import yarl

from batch_sender.simulator.config import SimulatorConfig
from batch_sender.simulator.reports import Report
from batch_sender.simulator.sends import Accepted

if TYPE_CHECKING:
    import aiohttp


class Reporter:
    def __init__(self, config: SimulatorConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.reports: dict[str, Report] = {}
        """SMSID -> the delivery report made for it (to the CallbackUrl and GetCallback)."""
        self.waiting: dict[str, tuple[Accepted, str]] = {}
        """SMSID -> a message sent with a CallbackUrl (GetCallback knows it, SendStatus 2)."""
        self.tasks: set[asyncio.Future[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def schedule(self, accepted: Accepted, url: str) -> None:
        self.waiting[accepted.smsid] = (accepted, url)
        self.tasks.add(task := asyncio.ensure_future(self._report(url, accepted)))
        task.add_done_callback(self.tasks.discard)

    async def _report(self, url: str, accepted: Accepted) -> None:
        import aiohttp

        await asyncio.sleep(self.config.callback_delay)
        styles = self.config.callback_styles
        report = Report(
            smsid=accepted.smsid,
            user_id=accepted.user_id,
            failed=self._zalo_fails(accepted),
            partner_id=f"{self.rng.getrandbits(80):020x}",
            oaid=self.config.oaid,
            price=self.config.price,
            stamp=time.strftime("%d/%m/%Y %H:%M:%S", time.gmtime(time.time() + 7 * 3600)),
            style=styles[len(self.reports) % len(styles)],
            callback_url=url,
        )
        self.reports[accepted.smsid] = report
        if self._session is None:
            self._session = aiohttp.ClientSession()
        target = yarl.URL(report.url(), encoded=True)
        for _ in range(6):  # eSMS retries five times
            try:
                async with self._session.get(
                    target, timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    if response.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)

    def _zalo_fails(self, accepted: Accepted) -> bool:
        """Whether Zalo fails this message; with a seed, the same messages on every run.

        Reports come back in an order the event loop decides, so a draw from the
        shared sequence would fail different followers, in different numbers,
        from one run to the next: a README transcript could not be reproduced.
        """
        roll = self.rng.random()  # drawn either way: the other seeded draws stay as they were
        if self.config.seed is not None:
            key = accepted.request_id or accepted.user_id
            roll = random.Random(f"{self.config.seed}:{key}").random()
        return roll < self.config.zalo_fail

    def known(self, smsid: str) -> Report | None:
        """What GetCallback can tell of a message: its report, or that it still waits."""
        if smsid in self.reports:
            return self.reports[smsid]
        if smsid in self.waiting:
            accepted, url = self.waiting[smsid]
            return Report(
                smsid, accepted.user_id, False, "", self.config.oaid, 0, "", "", url, waiting=True
            )
        return None

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
