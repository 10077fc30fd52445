"""What a send is given: where and how to send, and why it may stop early."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from batch_sender.errors import BatchSenderError
from batch_sender.esms import protocol as esms
from batch_sender.esms.protocol import Credentials, SendOptions
from batch_sender.i18n import _
from batch_sender.options import SendingPolicy


class Limiter(Protocol):
    async def acquire(self) -> None: ...


@dataclass(frozen=True)
class SendConfig:
    base_url: str
    credentials: Credentials
    options: SendOptions = field(default_factory=SendOptions)
    timeout: float = SendingPolicy.timeout
    rate: float = SendingPolicy.rate
    concurrency: int | None = SendingPolicy.concurrency
    """Requests in flight at most; None derives it from the rate and the latency."""
    max_attempts: int = SendingPolicy.max_attempts
    backoff: float = SendingPolicy.backoff
    unreachable_after: float = 60.0
    """Stop the run when no request has had any HTTP answer for this long."""
    simulated: bool = False
    """Sending to the simulator: its sends must never count as the OA's real ones."""

    @property
    def scope_oaid(self) -> str:
        """The OAID the journal files sends under (a simulated run has its own)."""
        oaid = self.credentials.oaid
        return f"simulator:{oaid}" if self.simulated else oaid

    @property
    def send_url(self) -> str:
        return self.base_url.rstrip("/") + esms.SEND_PATH


INTERRUPTED = "interrupted"
"""Stop.reason when the caller stopped the run (Ctrl-C, `stop` set, the task cancelled)."""


@dataclass(frozen=True)
class Stop:
    """Why the run stopped early."""

    reason: str
    outside: bool
    """Stopped by something outside the rows (the account, eSMS unreachable or refusing
    the URL, a full disk: exit 3, rerun once it is fixed), not interrupted (exit 130)."""
    code: str = ""
    crash: Exception | None = field(default=None, compare=False)
    """A bug stopped it: raised to the caller once what was sent is recorded."""


def stop_for(exc: Exception, message: esms.Message | None) -> Stop:
    """Why an error outside the rows stops the run: a journal that cannot be written, a bug."""
    if isinstance(exc, BatchSenderError):
        return Stop(str(exc), outside=True)
    # An OSError is the machine's (a disk's I/O error), not a bug: no crash details.
    crash = None if isinstance(exc, OSError) else exc
    return Stop(_stop_reason(exc, message), outside=True, crash=crash)


def _stop_reason(exc: Exception, message: esms.Message | None) -> str:
    where = _(" at row {line}", line=message.line) if message is not None else ""
    if isinstance(exc, OSError):
        error = f"{type(exc).__name__}: {exc}"
        return _(
            "unexpected error{where} ({error}); "
            "what was sent is recorded: rerun the same command to continue",
            where=where,
            error=error,
        )
    # Not the exception's text: it lands in the result file and may hold anything.
    return _(
        "internal error{where} ({error}); "
        "what was sent is recorded: rerun the same command to continue",
        where=where,
        error=type(exc).__name__,
    )
