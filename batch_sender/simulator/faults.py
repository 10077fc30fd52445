"""The faults a simulator injects into sends: refusals before, doubt after acceptance, outages.

Before a send is looked at: HTTP 500, an HTML 502, CodeResult 160, HTTP 429.
After it was accepted (the caller cannot know it was): the connection cut,
the answer late, its JSON cut short. And now and then the whole server away.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Literal

from aiohttp import web

from batch_sender.simulator.config import Faults

Before = Literal["http_500", "html_502", "code_160", "code_429"]
After = Literal["drop", "slow", "truncated"]


class FaultInjector:
    def __init__(self, faults: Faults, rng: random.Random) -> None:
        self.faults = faults
        self.rng = rng
        """Shared with the rest of the simulator: one seeded sequence of draws."""
        self.http_errors = 0
        self.dropped = 0
        self.slowed = 0
        self.truncated = 0
        self.cut = 0
        self.outages = 0
        self.down = False
        """An outage: new connections are refused, requests on open ones are cut."""

    async def delay(self) -> None:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)

    def before(self) -> Before | None:
        """The fault this request meets before it is read, if any."""
        roll = self.rng.random()
        http_500, html_502, code_160, code_429 = self.faults.before_accept()
        if roll < http_500:
            return "http_500"
        if roll < html_502:
            return "html_502"
        if roll < code_160:
            return "code_160"
        if roll < code_429:
            return "code_429"
        return None

    def before_query(self) -> Literal["http_500", "code_160"] | None:
        """QueryListUID meets the 500s and 160s of sends (not the 502s and 429s)."""
        roll = self.rng.random()
        if roll < self.faults.http_500:
            return "http_500"
        if roll < self.faults.http_500 + self.faults.code_160:
            return "code_160"
        return None

    def http_error(self, fault: Literal["http_500", "html_502", "code_429"]) -> web.Response:
        if fault == "code_429":
            return web.Response(status=429, headers={"Retry-After": f"{self.faults.retry_after:g}"})
        self.http_errors += 1
        if fault == "http_500":
            return web.Response(status=500, text="<html><body>Internal Server Error</body></html>")
        return web.Response(
            status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html"
        )

    def after(self) -> After | None:
        """What becomes of an accepted request's answer."""
        roll = self.rng.random()
        faults = self.faults
        if roll < faults.drop:
            return "drop"
        if roll < faults.drop + faults.slow:
            return "slow"
        if roll < faults.drop + faults.slow + faults.truncated:
            return "truncated"
        return None

    async def spoil(
        self, fault: After, request: web.Request, answer: dict[str, str]
    ) -> web.StreamResponse | None:
        """The accepted answer spoilt; None when it goes out after all (late)."""
        if fault == "drop":
            self.dropped += 1
            return self.cut_off(request)
        if fault == "slow":
            self.slowed += 1
            await asyncio.sleep(self.faults.slow_seconds)
            return None
        self.truncated += 1
        text = json.dumps({"CountRegenerate": 0, **answer})
        return web.Response(text=text[: len(text) // 2], content_type="application/json")

    def cut_off(self, request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)

    async def outages_loop(
        self, runner: web.AppRunner, site: web.TCPSite, host: str, port: int
    ) -> None:
        """Go away (refuse connections, cut open ones) and come back, again and again."""
        faults = self.faults
        while True:
            await asyncio.sleep(faults.outage_every)
            self.down = True
            self.outages += 1
            await site.stop()
            await asyncio.sleep(faults.outage_for)
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            self.down = False
