"""A local eSMS stand-in that speaks the documented API, with faults on demand.

Written from eSMS's pages, never from what the client expects: every answer
has the fields, casing and JSON types of the page's sample (tests/fixtures/esms
holds them and test_contract.py holds the simulator to them). It answers
SendZaloFollowerMessage_V5_post_json (sends.py), GetBalance_json,
ZNS/GetListZOA, QueryListUID (audience.py) and GetCallback (get_callback.py)
on every spelling of their paths the pages use; it calls each message's
CallbackUrl (callbacks.py) and injects faults (faults.py).

GET /_simulator/stats tells what it accepted; POST /_simulator/balance
{"Balance": N} sets the balance (for "top up, then rerun" trials).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from batch_sender.esms import protocol as esms
from batch_sender.esms.protocol import Credentials
from batch_sender.simulator.accounts import Account
from batch_sender.simulator.audience import SyntheticOA
from batch_sender.simulator.callbacks import Reporter
from batch_sender.simulator.config import SimulatorConfig
from batch_sender.simulator.faults import FaultInjector
from batch_sender.simulator.get_callback import GetCallback
from batch_sender.simulator.reports import Report
from batch_sender.simulator.sends import Accepted, Sends
from batch_sender.simulator.wire import coded, json_body, spellings

STATS_PATH = "/_simulator/stats"
SET_BALANCE_PATH = "/_simulator/balance"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Simulator:
    """The endpoints over one account, each part its own object, sharing one seeded draw."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config = config or SimulatorConfig()
        self.rng = random.Random(config.seed)
        self.account = Account(
            Credentials(config.api_key, config.secret_key, config.oaid),
            config.balance,
            config.price,
        )
        self.faults = FaultInjector(config.faults, self.rng)
        self.reporter = Reporter(config, self.rng)
        self.sends = Sends(
            self.account,
            self.rng,
            reserve_rejected=config.reserve_rejected,
            on_callback=self.reporter.schedule,
        )
        self.get_callback = GetCallback(self.account, self.reporter)
        self.codes: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()
        """Each path as clients spelled it, and how often."""
        self.requests = 0
        self.starts: list[float] = []
        self.uid_queries = 0
        self._oa: SyntheticOA | None = None

    # What tests and trials look at, wherever the part keeping it lives.
    @property
    def balance(self) -> int:
        return self.account.balance

    @balance.setter
    def balance(self, balance: int) -> None:
        self.account.balance = balance

    @property
    def accepted(self) -> dict[str, Accepted]:
        return self.sends.accepted

    @property
    def send_dates(self) -> list[str]:
        return self.sends.send_dates

    @property
    def reports(self) -> dict[str, Report]:
        return self.reporter.reports

    @property
    def tasks(self) -> set[asyncio.Future[None]]:
        return self.reporter.tasks

    # --- the app ----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_path])
        endpoints: list[tuple[str, Handler]] = [
            (esms.SEND_PATH, self.send),
            (esms.BALANCE_PATH, self.get_balance),
            (esms.GET_CALLBACK_PATH, self.get_callback.handle),
            (esms.LIST_OA_PATH, self.list_oa),
            (esms.QUERY_UID_PATH, self.query_list_uid),
        ]
        for path, handler in endpoints:
            for spelling in spellings(path):
                app.router.add_post(spelling, handler)
        app.router.add_get(STATS_PATH, self.stats)
        app.router.add_post(SET_BALANCE_PATH, self.set_balance)
        app.on_cleanup.append(self._close)
        return app

    @web.middleware
    async def _count_path(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/_simulator/"):
            self.paths[request.path] += 1
        return await handler(request)

    async def send(self, request: web.Request) -> web.StreamResponse:
        faults = self.faults
        if faults.down:
            faults.cut += 1
            return faults.cut_off(request)
        self.requests += 1
        self.starts.append(time.monotonic())
        await faults.delay()
        fault = faults.before()
        if fault == "code_160":
            if self.config.reserve_rejected:
                self.sends.reserve(await json_body(request) or {}, "160")
            return coded(self.codes, "160", ErrorMessage="Request per second over limit")
        if fault == "code_429":
            self.codes["HTTP 429"] += 1
        if fault is not None:
            return faults.http_error(fault)
        body = await json_body(request)
        if body is None:
            return coded(self.codes, "110", ErrorMessage="Invalid request data")
        answer = self._accept(body)
        if answer["CodeResult"] != esms.ACCEPTED:
            return coded(self.codes, **answer)
        # Accepted: from here on a failure leaves the caller in doubt, and only
        # the RequestId saves it from sending the message twice.
        spoilt = faults.after()
        if spoilt == "truncated":
            self.codes[answer["CodeResult"]] += 1
        if spoilt is not None and (lost := await faults.spoil(spoilt, request, answer)):
            return lost
        return coded(self.codes, **answer)

    def _accept(self, body: dict[str, Any]) -> dict[str, str]:
        # One seam: a test stands in its own verdicts here.
        return self.sends.accept(body)

    def _reserved(self, request_id: str) -> bool:
        return self.sends.reserved(request_id)

    async def get_balance(self, request: web.Request) -> web.Response:
        body = await json_body(request) or {}
        if not self.account.keys_ok(body):
            return web.json_response(
                {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}
            )
        return web.json_response({"Balance": self.balance, "CodeResponse": "100", "UserID": 1})

    async def list_oa(self, request: web.Request) -> web.Response:
        """ZNS/GetListZOA: the account's one OA."""
        body = await json_body(request) or {}
        if not self.account.keys_ok(body):
            return web.json_response({"CodeResult": "101", "ErrorMessage": "Authorize Failed."})
        return web.json_response(
            {
                "CodeResult": "100",
                "ErrorMessage": "success",
                "ZOAList": [{"OAID": self.account.oaid, "OAName": self.config.oa_name}],
            }
        )

    async def query_list_uid(self, request: web.Request) -> web.Response:
        """QueryListUID over a synthetic OA; HTTP 500 and 160 faults as for sends."""
        self.uid_queries += 1
        await self.faults.delay()
        fault = self.faults.before_query()
        if fault == "http_500":
            return self.faults.http_error(fault)
        if fault == "code_160":
            return web.json_response(
                {"CodeResult": "160", "ErrorMessage": "Request per second over limit"}
            )
        body = await json_body(request) or {}
        config = self.config
        if not self.account.keys_ok(body):
            return web.json_response({"CodeResult": "101", "ErrorMessage": "Authorize Failed"})
        if body.get("OAID") != self.account.oaid:
            return web.json_response(
                {"CodeResult": "799", "ErrorMessage": "OAID is not active or wrong"}
            )
        if self._oa is None:
            self._oa = SyntheticOA(
                config.audience_size,
                seed=config.seed or 0,
                end=config.audience_end,
                days=config.audience_days,
            )
        return web.json_response(self._oa.answer(body))

    async def set_balance(self, request: web.Request) -> web.Response:
        body = await json_body(request) or {}
        self.balance = int(body.get("Balance", self.balance))
        return web.json_response({"Balance": self.balance})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _close(self, _app: web.Application) -> None:
        await self.reporter.close()

    def snapshot(self) -> dict[str, Any]:
        faults = self.faults
        return {
            "requests": self.requests,
            "accepted": self.sends.delivered(),
            "sandbox": self.sends.sandboxed,
            "dropped": faults.dropped,
            "slowed": faults.slowed,
            "truncated": faults.truncated,
            "outages": faults.outages,
            "cut": faults.cut,
            "http_errors": faults.http_errors,
            "uid_queries": self.uid_queries,
            "codes": dict(self.codes),
            "paths": dict(self.paths),
            "balance": self.balance,
            "busiest_second": busiest_second(self.starts),
            "send_seconds": (self.starts[-1] - self.starts[0]) if self.starts else 0.0,
            # time.monotonic() is the machine's clock on Linux: `make bench` times
            # a sender's first request from its own start with it.
            "first_send_at": self.starts[0] if self.starts else None,
            "messages": {
                rid: {"SMSID": a.smsid, "user_id": a.user_id, "sandbox": a.sandbox}
                for rid, a in self.accepted.items()
            },
        }


def busiest_second(starts: list[float]) -> int:
    """The most request starts in any one-second window [t, t+1)."""
    ordered = sorted(starts)
    return max(
        (bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)),
        default=0,
    )


@contextlib.asynccontextmanager
async def serve(
    simulator: Simulator, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 60.0
) -> AsyncIterator[str]:
    """Run the simulator in this event loop; yields its base URL.

    On the way out, answers still in flight (a slow fault, a long latency) get
    up to shutdown_timeout seconds to finish before they are cut.
    """
    runner = web.AppRunner(
        simulator.app(), access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    outages = None
    faults = simulator.config.faults
    if faults.outage_every > 0 and faults.outage_for > 0:
        outages = asyncio.create_task(simulator.faults.outages_loop(runner, site, host, bound))
    try:
        yield f"http://{host}:{bound}"
    finally:
        if outages is not None:
            outages.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outages
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve_for(credentials: Credentials) -> AsyncIterator[str]:
    """A simulator that takes these keys, for one simulated run; yields its base URL."""
    config = SimulatorConfig(
        api_key=credentials.api_key, secret_key=credentials.secret_key, oaid=credentials.oaid
    )
    async with serve(Simulator(config)) as url:
        yield url
