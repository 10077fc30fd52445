"""A local eSMS stand-in that speaks the documented API, with faults on demand.

Written from eSMS's pages (../shared/esms-api/pages), never from what the
client expects: every answer has the fields, casing and JSON types of the
page's sample (tests/fixtures/esms holds them and test_contract.py holds the
simulator to them). It answers SendZaloFollowerMessage_V5_post_json (101 for
wrong keys, 210 for a malformed Payload, 852/853 for the user_id, 124 for a
repeated RequestId, Sandbox, an SMSID per accepted message), GetBalance_json,
ZNS/GetListZOA and GetCallback; it calls each message's CallbackUrl with a
GET built like the pages' Zalo samples (RequestId empty, error_info encoded
as they show it). It counts what it accepted, and can inject faults: HTTP
500, CodeResult 160, accepted-then-dropped connections, and latency.

GET /_simulator/stats tells what it accepted; POST /_simulator/balance
{"Balance": N} sets the balance (for "top up, then rerun" trials).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import json
import random
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import web

from batch_sender.esms import protocol as esms
from batch_sender.simulator.audience import DEFAULT_END, SyntheticOA

SIMULATOR_API_KEY = "SIMULATOR-API-KEY"
SIMULATOR_SECRET_KEY = "SIMULATOR-SECRET-KEY"  # noqa: S105 - a public demo key
SIMULATOR_OAID = "SIMULATOR-OAID"
STATS_PATH = "/_simulator/stats"
RESERVED_SECONDS = 24 * 3600
"""How long eSMS blocks a RequestId it has seen."""
SET_BALANCE_PATH = "/_simulator/balance"


def credentials(api_key: str | None, secret_key: str | None, oaid: str | None) -> esms.Credentials:
    """The account's settings, each missing one the simulator's demo value (--simulate)."""
    return esms.Credentials(
        api_key or SIMULATOR_API_KEY, secret_key or SIMULATOR_SECRET_KEY, oaid or SIMULATOR_OAID
    )


@dataclass
class Faults:
    """Shares (0..1) of send requests that fail each way, and added latency."""

    http_500: float = 0.0
    html_502: float = 0.0
    """An HTML 502 page, as a proxy in front of eSMS would answer."""
    code_160: float = 0.0
    code_429: float = 0.0
    """HTTP 429 with Retry-After: retry_after seconds."""
    drop: float = 0.0
    """Accepted, then the connection is closed before the answer."""
    slow: float = 0.0
    """Accepted, then the answer waits slow_seconds (longer than the caller's timeout)."""
    truncated: float = 0.0
    """Accepted, then the answer's JSON is cut short."""
    latency: float = 0.0
    retry_after: float = 1.0
    slow_seconds: float = 5.0
    outage_every: float = 0.0
    """Every this many seconds (0 = never) the server goes away for outage_for seconds:
    connections refused, open ones cut."""
    outage_for: float = 0.0

    def before_accept(self) -> tuple[float, float, float, float]:
        """Cumulative shares of the faults decided before looking at the request."""
        a = self.http_500
        b = a + self.html_502
        c = b + self.code_160
        d = c + self.code_429
        return a, b, c, d


@dataclass
class SimulatorConfig:
    api_key: str = SIMULATOR_API_KEY
    secret_key: str = SIMULATOR_SECRET_KEY
    oaid: str = SIMULATOR_OAID
    balance: int = 10**12
    price: int = 300
    """What one accepted message costs; 103 when the balance cannot pay it."""
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    callback_delay: float = 0.0
    """Seconds after acceptance before the delivery report goes to the CallbackUrl."""
    zalo_fail: float = 0.0
    """Share of accepted messages that Zalo then fails to deliver (-114 User is inactive)."""
    callback_styles: tuple[str, ...] = ("follower",)
    """How the reports' GET looks, taken in turn per message: "follower" (the pages'
    "Zalo tư vấn" sample: TypeId 26, error_info encoded twice with its time),
    "zns" (the "Zalo" sample: TypeId 25, error_info a JSON string literal) or
    "uid" (the "Zalo gửi bằng UID" sample: error_info encoded once)."""
    oa_name: str = "Shop Hoa Sen"
    audience_size: int = 2000
    """Users of the synthetic OA that QueryListUID lists (see sim_audience)."""
    audience_days: int = 30
    """The OA's users interacted over this many days, ending on audience_end."""
    audience_end: dt.date = DEFAULT_END
    reserve_rejected: bool = False
    """Keep a rejected request's RequestId for 24 hours too: 124 if it comes again.

    eSMS does not say whether a RequestId whose request it refused (103, 210...)
    stays blocked; this plays the case where it does.
    """


@dataclass(frozen=True)
class Accepted:
    smsid: str
    user_id: str
    text: str
    url: str
    sandbox: bool
    request_id: str = ""


INACTIVE = (
    "User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors"
)
"""Zalo's -114, word for word as the pages' samples show it."""


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.balance = self.config.balance
        self.rng = random.Random(self.config.seed)
        self.accepted: dict[str, Accepted] = {}
        """RequestId -> what was accepted; a message is delivered once per entry."""
        self.unkeyed: list[Accepted] = []
        """Accepted requests that carried no RequestId (nothing stops their repeats)."""
        self.codes: Counter[str] = Counter()
        self.requests = 0
        self.dropped = 0
        self.slowed = 0
        self.truncated = 0
        self.http_errors = 0
        self.send_dates: list[str] = []
        self.reports: dict[str, Report] = {}
        """SMSID -> the delivery report made for it (to the CallbackUrl and GetCallback)."""
        self.waiting: dict[str, tuple[Accepted, str]] = {}
        """SMSID -> a message sent with a CallbackUrl (GetCallback knows it, SendStatus 2)."""
        self.tasks: set[asyncio.Future[None]] = set()
        self._reporter: Any = None
        self.cut = 0
        self.outages = 0
        self.down = False
        """An outage: new connections are refused, requests on open ones are cut."""
        self.starts: list[float] = []
        self._oa: SyntheticOA | None = None
        self.uid_queries = 0
        self.sandboxed = 0
        """Sandbox requests answered: not stored, so their RequestIds block nothing."""
        self.rejected_ids: dict[str, float] = {}
        """RequestId -> when it was refused (kept only with reserve_rejected)."""

    # --- the app ----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(esms.SEND_PATH, self.send)
        app.router.add_post(esms.SEND_PATH.rstrip("/"), self.send)
        app.router.add_post(esms.BALANCE_PATH, self.get_balance)
        app.router.add_get(STATS_PATH, self.stats)
        app.router.add_post(SET_BALANCE_PATH, self.set_balance)
        app.router.add_post(esms.GET_CALLBACK_PATH, self.get_callback)
        app.router.add_post(esms.LIST_OA_PATH, self.list_oa)
        app.router.add_post(esms.LIST_OA_PATH.rstrip("/"), self.list_oa)
        app.router.add_post(esms.QUERY_UID_PATH, self.query_list_uid)
        app.router.add_post(esms.QUERY_UID_PATH.rstrip("/"), self.query_list_uid)
        app.on_cleanup.append(self._close_reporter)
        return app

    async def send(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            self.cut += 1
            return self._cut(request)
        self.requests += 1
        self.starts.append(time.monotonic())
        faults = self.config.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        roll = self.rng.random()
        http_500, html_502, code_160, code_429 = faults.before_accept()
        if roll < http_500:
            self.http_errors += 1
            return web.Response(status=500, text="<html><body>Internal Server Error</body></html>")
        if roll < html_502:
            self.http_errors += 1
            return web.Response(
                status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html"
            )
        if roll < code_160:
            if self.config.reserve_rejected:
                self._reserve(await _json_body(request) or {}, "160")
            return self._answer("160", ErrorMessage="Request per second over limit")
        if roll < code_429:
            self.codes["HTTP 429"] += 1
            return web.Response(status=429, headers={"Retry-After": f"{faults.retry_after:g}"})
        body = await _json_body(request)
        if body is None:
            return self._answer("110", ErrorMessage="Invalid request data")
        answer = self._accept(body)
        if answer["CodeResult"] != esms.ACCEPTED:
            return self._answer(**answer)
        # Accepted: from here on a failure leaves the caller in doubt, and only
        # the RequestId saves it from sending the message twice.
        roll = self.rng.random()
        if roll < faults.drop:
            self.dropped += 1
            return self._cut(request)
        if roll < faults.drop + faults.slow:
            self.slowed += 1
            await asyncio.sleep(faults.slow_seconds)
        elif roll < faults.drop + faults.slow + faults.truncated:
            self.truncated += 1
            self.codes[answer["CodeResult"]] += 1
            text = json.dumps({"CountRegenerate": 0, **answer})
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return self._answer(**answer)

    def _cut(self, request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)

    def _accept(self, body: dict[str, Any]) -> dict[str, str]:
        answer = self._answer_for(body)
        if self.config.reserve_rejected:
            self._reserve(body, answer["CodeResult"])
        return answer

    def _reserve(self, body: dict[str, Any], code: str) -> None:
        """With reserve_rejected: a refused request's RequestId stays blocked for 24 hours."""
        request_id = body.get("RequestId")
        if (
            code not in (esms.ACCEPTED, esms.ALREADY_ACCEPTED, "101", "110")
            and isinstance(request_id, str)
            and request_id
            and str(body.get("Sandbox", "")) != "1"
        ):
            self.rejected_ids[request_id] = time.time()

    def _reserved(self, request_id: str) -> bool:
        refused = self.rejected_ids.get(request_id)
        return refused is not None and time.time() - refused < RESERVED_SECONDS

    def _answer_for(self, body: dict[str, Any]) -> dict[str, str]:
        config = self.config
        if not self._keys_ok(body):
            return {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
        if body.get("OAID") != config.oaid:
            return {"CodeResult": "799", "ErrorMessage": "OAID is not active or wrong"}
        payload = body.get("Payload")
        problem = _payload_problem(payload)
        if problem is not None:
            return problem
        assert isinstance(payload, dict)
        request_id = body.get("RequestId")
        if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 50):
            return {"CodeResult": "110", "ErrorMessage": "RequestId is invalid"}
        if request_id and (request_id in self.accepted or self._reserved(request_id)):
            return {"CodeResult": esms.ALREADY_ACCEPTED, "ErrorMessage": "Request exist 1"}
        sandbox = str(body.get("Sandbox", "")) == "1"
        if "SendDate" in body:
            self.send_dates.append(str(body["SendDate"]))
        if not sandbox and self.balance < config.price:
            return {"CodeResult": "103", "ErrorMessage": "Balance not enough to send message"}
        smsid = f"{self.rng.getrandbits(128):032x}{len(self.accepted) % 1000:03d}"
        if sandbox:
            # The sandbox page: such messages are "not stored in eSMS, not charged, not
            # delivered", so nothing keeps their RequestId either.
            self.sandboxed += 1
            return {"CodeResult": esms.ACCEPTED, "SMSID": smsid}
        message = payload["message"]
        accepted = Accepted(
            smsid=smsid,
            user_id=payload["recipient"]["user_id"],
            text=message["text"],
            url=message["attachment"]["payload"]["elements"][0]["url"],
            sandbox=sandbox,
            request_id=request_id or "",
        )
        if request_id:
            self.accepted[request_id] = accepted
        else:
            self.unkeyed.append(accepted)
        callback_url = body.get("CallbackUrl")
        if isinstance(callback_url, str) and callback_url and not sandbox:
            self.waiting[smsid] = (accepted, callback_url)
            self.tasks.add(task := asyncio.ensure_future(self._report(callback_url, accepted)))
            task.add_done_callback(self.tasks.discard)
        if not sandbox:
            self.balance -= config.price
        return {"CodeResult": esms.ACCEPTED, "SMSID": smsid}

    async def _report(self, url: str, accepted: Accepted) -> None:
        """Zalo's verdict, sent as eSMS does: a GET with query parameters, retried on failure."""
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
        if self._reporter is None:
            self._reporter = aiohttp.ClientSession()
        target = yarl.URL(report.url(), encoded=True)
        for _ in range(6):  # eSMS retries five times
            try:
                async with self._reporter.get(
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

    async def get_callback(self, request: web.Request) -> web.Response:
        """GetCallback: what eSMS knows of the asked SMSIDs (the first 200 of them).

        As the page shows: Code a number, Data_callback records in PascalCase
        with numbers as numbers and RequestId null, ErrorInfo Zalo's JSON
        followed by eSMS's own text. Only messages sent with a CallbackUrl.
        """
        body = await _json_body(request) or {}
        if not self._keys_ok(body):
            return web.json_response({"Code": 101, "Message": "Authorize Failed"})
        if body.get("OAId") != self.config.oaid:
            return web.json_response(
                {"Code": 799, "Message": "OAID is not active or wrong", "Data_callback": []}
            )
        asked = body.get("ListRefid")
        if not isinstance(asked, list):
            return web.json_response({"Code": 110, "Message": "ListRefid is invalid"})
        found = []
        for smsid in asked[:200]:
            if not isinstance(smsid, str):
                continue
            if smsid in self.reports:
                found.append(self.reports[smsid].record())
            elif smsid in self.waiting:
                accepted, url = self.waiting[smsid]
                waiting = Report(
                    smsid, accepted.user_id, False, "", self.config.oaid, 0, "", "", url, True
                )
                found.append(waiting.record())
        return web.json_response({"Code": 100, "Message": "Success", "Data_callback": found})

    async def list_oa(self, request: web.Request) -> web.Response:
        """ZNS/GetListZOA: the account's one OA."""
        body = await _json_body(request) or {}
        if not self._keys_ok(body):
            return web.json_response({"CodeResult": "101", "ErrorMessage": "Authorize Failed."})
        return web.json_response(
            {
                "CodeResult": "100",
                "ErrorMessage": "success",
                "ZOAList": [{"OAID": self.config.oaid, "OAName": self.config.oa_name}],
            }
        )

    def _keys_ok(self, body: dict[str, Any]) -> bool:
        return (
            body.get("ApiKey") == self.config.api_key
            and body.get("SecretKey") == self.config.secret_key
        )

    async def query_list_uid(self, request: web.Request) -> web.Response:
        """QueryListUID over a synthetic OA; HTTP 500 and 160 faults as for sends."""
        self.uid_queries += 1
        faults = self.config.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        roll = self.rng.random()
        if roll < faults.http_500:
            self.http_errors += 1
            return web.Response(status=500, text="<html><body>Internal Server Error</body></html>")
        if roll < faults.http_500 + faults.code_160:
            return web.json_response(
                {"CodeResult": "160", "ErrorMessage": "Request per second over limit"}
            )
        body = await _json_body(request) or {}
        config = self.config
        if not self._keys_ok(body):
            return web.json_response({"CodeResult": "101", "ErrorMessage": "Authorize Failed"})
        if body.get("OAID") != config.oaid:
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

    async def _close_reporter(self, _app: web.Application) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._reporter is not None:
            await self._reporter.close()

    def _answer(self, CodeResult: str, **fields: str) -> web.Response:
        self.codes[CodeResult] += 1
        return web.json_response({"CodeResult": CodeResult, "CountRegenerate": 0, **fields})

    async def get_balance(self, request: web.Request) -> web.Response:
        body = await _json_body(request) or {}
        if not self._keys_ok(body):
            return web.json_response(
                {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}
            )
        return web.json_response({"Balance": self.balance, "CodeResponse": "100", "UserID": 1})

    async def set_balance(self, request: web.Request) -> web.Response:
        body = await _json_body(request) or {}
        self.balance = int(body.get("Balance", self.balance))
        return web.json_response({"Balance": self.balance})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        delivered = [a for a in self.accepted.values() if not a.sandbox]
        return {
            "requests": self.requests,
            "accepted": len(delivered) + len(self.unkeyed),
            "sandbox": self.sandboxed,
            "dropped": self.dropped,
            "slowed": self.slowed,
            "truncated": self.truncated,
            "outages": self.outages,
            "cut": self.cut,
            "http_errors": self.http_errors,
            "uid_queries": self.uid_queries,
            "codes": dict(self.codes),
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


def encode_error_info(style: str, text: str) -> str:
    """error_info as it stands in the GET of the pages' sample of that style."""
    if style == "zns":
        # Zalo's JSON as a JSON string literal, { and } left as they are.
        return urllib.parse.quote(json.dumps(text, ensure_ascii=False), safe="{}")
    if style == "uid":
        return urllib.parse.quote(text, safe="{}")
    # Encoded twice, the first time leaving : , / alone.
    return urllib.parse.quote(urllib.parse.quote(text, safe=":,/"), safe="")


@dataclass(frozen=True)
class Report:
    """One message's delivery report, as the callback GET and as a GetCallback record."""

    smsid: str
    user_id: str
    failed: bool
    partner_id: str
    oaid: str
    price: int
    stamp: str
    """eSMS's clock, dd/MM/yyyy HH:mm:ss (Vietnam)."""
    style: str
    callback_url: str
    waiting: bool = False
    """Not sent to Zalo yet (SendStatus 2): GetCallback's answer before the verdict."""

    @property
    def charged(self) -> int:
        """The pages' failed samples cost 0.0000: Zalo's refusal is not charged."""
        return 0 if self.failed else self.price

    def zalo(self) -> dict[str, Any]:
        """Zalo's answer as the pages' samples carry it."""
        if self.failed:
            return {"error": -114, "message": INACTIVE}
        if self.style == "uid":
            delivered = "The message was delivered to the user's phone"
            return {
                "error": 0,
                "message": "Success",
                "data": {"delivery_time": None, "message": delivered, "status": 1},
            }
        ids = {"message_id": self.partner_id, "user_id": self.user_id}
        return {"data": ids, "error": 0, "message": "Success"}

    def query(self) -> str:
        """The GET's query string, parameter for parameter as the page's sample of the style."""
        zalo = json.dumps(self.zalo(), separators=(",", ":"), ensure_ascii=False)
        sent, failed = ("0", "1") if self.failed else ("1", "0")
        price = f"{self.charged:.4f}"
        counts = [
            ("SMSID", self.smsid),
            ("SendFailed", failed),
            ("SendStatus", "5"),
            ("SendSuccess", sent),
            ("TotalPrice", price),
            ("TotalReceiver", "1"),
            ("TotalSent", "1"),
            ("RequestId", ""),
        ]
        if self.style == "zns":
            info = encode_error_info("zns", zalo)
            tail = [
                ("TypeId", "25"),
                ("telcoid", "2"),
                ("phonenumber", self.user_id),
                ("partnerids", ""),
                ("error_info", info),
                ("oaid", self.oaid),
                ("tempid", ""),
            ]
        elif self.style == "uid":
            info = encode_error_info("uid", zalo)
            tail = [
                ("TypeId", "25"),
                ("telcoid", "9"),
                ("phonenumber", self.user_id),
                ("error_info", info),
                ("oaid", self.oaid),
                ("tempid", ""),
                ("partnerids", self.partner_id),
            ]
        else:
            info = encode_error_info("follower", f"{zalo}____{self.stamp}")
            tail = [
                ("TypeId", "26"),
                ("phonenumber", self.user_id),
                ("error_info", info),
                ("oaid", self.oaid),
                ("partnerids", self.partner_id),
            ]
        return "&".join(
            f"{k}={urllib.parse.quote(v, safe='') if k != 'error_info' else v}"
            for k, v in counts + tail
        )

    def url(self) -> str:
        base = str(yarl.URL(self.callback_url))
        return base + ("&" if "?" in base else "?") + self.query()

    def record(self) -> dict[str, Any]:
        """A Data_callback record: the page's fields, casing and JSON types."""
        zalo = json.dumps(self.zalo(), separators=(",", ":"), ensure_ascii=False)
        done = not self.waiting
        return {
            "SMSID": self.smsid,
            "SendFailed": int(self.failed),
            "SendSuccess": int(done and not self.failed),
            "SendStatus": 5 if done else 2,
            "TotalPrice": float(self.charged),
            "TotalReceiver": 1,
            "TotalSent": int(done),
            "RequestId": None,
            "TypeId": 26,
            "Telcoid": 0,
            "PhoneNumber": self.user_id,
            "CallbackUrl": self.callback_url,
            "Partnerids": self.partner_id,
            # The page's sample: Zalo's JSON, then eSMS's own text stuck to it.
            "ErrorInfo": (zalo if done else "")
            + ("Object reference not set to an instance of an object." if self.failed else ""),
            "OAId": self.oaid,
            "ZnsTempId": "",
        }


def busiest_second(starts: list[float]) -> int:
    """The most request starts in any one-second window [t, t+1)."""
    ordered = sorted(starts)
    return max(
        (bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)),
        default=0,
    )


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    # eSMS's own samples send JSON as text/plain: read the body whatever its type.
    try:
        data = json.loads(await request.text())
    except ValueError:
        return None
    except ConnectionError:
        return None  # the caller went away mid-request: nobody to answer
    return data if isinstance(data, dict) else None


def _payload_problem(payload: object) -> dict[str, str] | None:
    def bad(what: str) -> dict[str, str]:
        return {"CodeResult": "210", "ErrorMessage": f"Payload is invalid: {what}"}

    if not isinstance(payload, dict):
        return bad("missing")
    recipient = payload.get("recipient")
    user_id = recipient.get("user_id") if isinstance(recipient, dict) else None
    if not user_id:
        return {"CodeResult": "853", "ErrorMessage": "Zalo user_id is missing"}
    if not isinstance(user_id, str):
        return bad("user_id must be a string")
    if len(user_id) > 20:
        return {"CodeResult": "852", "ErrorMessage": "Zalo user_id is longer than 20 characters"}
    message = payload.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return bad("message.text missing")
    if len(message["text"]) > 2000:
        return bad("message.text is longer than 2000 characters")
    attachment = message.get("attachment")
    if not isinstance(attachment, dict) or attachment.get("type") != "template":
        return bad("attachment.type must be template")
    inner = attachment.get("payload")
    if not isinstance(inner, dict) or inner.get("template_type") != "media":
        return bad("template_type must be media")
    elements = inner.get("elements")
    if not isinstance(elements, list) or len(elements) != 1:
        return bad("exactly one element is required")
    element = elements[0]
    if (
        not isinstance(element, dict)
        or element.get("media_type") != "image"
        or not isinstance(element.get("url"), str)
    ):
        return bad("the element must be an image with a url")
    return None


@contextlib.asynccontextmanager
async def serve(simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run the simulator in this event loop; yields its base URL."""
    runner = web.AppRunner(simulator.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    outages = None
    faults = simulator.config.faults
    if faults.outage_every > 0 and faults.outage_for > 0:
        outages = asyncio.create_task(_outages(simulator, runner, site, host, bound))
    try:
        yield f"http://{host}:{bound}"
    finally:
        if outages is not None:
            outages.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outages
        await runner.cleanup()


async def _outages(
    simulator: Simulator, runner: web.AppRunner, site: web.TCPSite, host: str, port: int
) -> None:
    """Go away (refuse connections, cut open ones) and come back, again and again."""
    faults = simulator.config.faults
    while True:
        await asyncio.sleep(faults.outage_every)
        simulator.down = True
        simulator.outages += 1
        await site.stop()
        await asyncio.sleep(faults.outage_for)
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        simulator.down = False
