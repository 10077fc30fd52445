"""How a simulator is set up: its account, its synthetic OA, and the faults it injects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from batch_sender.simulator.accounts import DEMO
from batch_sender.simulator.audience import DEFAULT_END


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
    api_key: str = DEMO.api_key
    secret_key: str = DEMO.secret_key
    oaid: str = DEMO.oaid
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
    """Users of the synthetic OA that QueryListUID lists (see audience.py)."""
    audience_days: int = 30
    """The OA's users interacted over this many days, ending on audience_end."""
    audience_end: dt.date = DEFAULT_END
    reserve_rejected: bool = False
    """Keep a rejected request's RequestId for 24 hours too: 124 if it comes again.

    eSMS does not say whether a RequestId whose request it refused (103, 210...)
    stays blocked; this plays the case where it does.
    """
