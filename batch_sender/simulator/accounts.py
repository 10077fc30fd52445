"""The simulator's one eSMS account: its demo keys, its OA, its balance.

The demo keys are declared here only: the simulator accepts them by default,
and a run that asked to simulate sends them for any key it was not given.
"""

from __future__ import annotations

from typing import Any

from batch_sender.esms.protocol import Credentials

SIMULATOR_API_KEY = "SIMULATOR-API-KEY"
SIMULATOR_SECRET_KEY = "SIMULATOR-SECRET-KEY"  # noqa: S105 - a public demo key
SIMULATOR_OAID = "SIMULATOR-OAID"
DEMO = Credentials(SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY, SIMULATOR_OAID)


def with_demo_keys(api_key: str | None, secret_key: str | None, oaid: str | None) -> Credentials:
    """A simulated run's account: each setting not given, the demo's."""
    return Credentials(api_key or DEMO.api_key, secret_key or DEMO.secret_key, oaid or DEMO.oaid)


class Account:
    """What the keys open: the OA, and a balance each accepted message is charged to."""

    def __init__(self, credentials: Credentials, balance: int, price: int) -> None:
        self.credentials = credentials
        self.balance = balance
        self.price = price

    @property
    def oaid(self) -> str:
        return self.credentials.oaid

    def keys_ok(self, body: dict[str, Any]) -> bool:
        return (
            body.get("ApiKey") == self.credentials.api_key
            and body.get("SecretKey") == self.credentials.secret_key
        )

    def can_pay(self) -> bool:
        return self.balance >= self.price

    def charge(self) -> None:
        self.balance -= self.price
