"""One HTTP request to eSMS and what its outcome means: an Answer, or a Transient failure.

Secrets travel only in request bodies, and no body is ever put in an error
message, so nothing raised here can leak them.
"""

from __future__ import annotations

import email.utils
import functools
import json
import time
from typing import Any

import aiohttp
import yarl

from batch_sender.esms.protocol import Answer, Verdict, redacted
from batch_sender.i18n import _

MAX_RETRY_AFTER = 300.0


class Transient(Exception):
    """No definitive answer for this attempt; retrying with the same RequestId is safe."""

    def __init__(
        self,
        reason: str,
        *,
        ambiguous: bool,
        retry_after: float | None = None,
        answer: Answer | None = None,
        connected: bool = True,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ambiguous = ambiguous
        """The request may have reached eSMS and been accepted (timeout, drop, 5xx)."""
        self.connected = connected
        """False when the request never left this machine: eSMS cannot have seen it."""
        self.retry_after = retry_after
        self.answer = answer


class HttpRefused(Exception):
    """An HTTP error that retrying will not fix (wrong URL, 4xx other than 429, 3xx)."""

    def __init__(self, status: int, reason: str, url: str, detail: str = "") -> None:
        super().__init__(
            _(
                "eSMS answered HTTP {status} {reason} at {url}{detail}",
                status=status,
                reason=reason,
                url=url,
                detail=detail,
            )
        )
        self.status = status


class Redirected(HttpRefused):
    """eSMS's API never redirects: following one would post the keys somewhere else."""

    def __init__(self, status: int, reason: str, url: str, location: str | None) -> None:
        try:
            target = yarl.URL(url).join(yarl.URL(location)) if location else yarl.URL()
        except ValueError:
            target = yarl.URL()
        host = target.host or ""
        where = f"{target.scheme}://{host}" if target.scheme else host
        if target.explicit_port is not None:
            where += f":{target.explicit_port}"
        super().__init__(
            status,
            reason,
            url,
            _(
                ", redirecting to {where}: not followed (the keys travel in the body)",
                where=where or _("nowhere"),
            ),
        )
        self.location_host = host


@functools.lru_cache(maxsize=8)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)  # immutable: one per value, not per request


def new_session(concurrency: int) -> aiohttp.ClientSession:
    """One pooled session for the whole run: at most `concurrency` connections."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": "batch-sender"},
        # Our timeout is per request (post_json); the session's default would cap it at 300 s.
        timeout=aiohttp.ClientTimeout(total=None),
    )


JSON = "application/json"
TEXT = "text/plain"
"""The send page's own sample posts its JSON as text/plain; every other page as JSON."""


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    timeout: float,
    content_type: str = JSON,
) -> dict[str, Any]:
    """POST body as JSON; the answer's JSON object, or Transient / HttpRefused."""
    if content_type == JSON:
        sent: dict[str, Any] = {"json": body}
    else:
        sent = {"data": json.dumps(body).encode(), "headers": {"Content-Type": content_type}}
    try:
        async with session.post(
            url, timeout=_timeout(timeout), allow_redirects=False, **sent
        ) as response:
            status, reason = response.status, response.reason or ""
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            location = response.headers.get("Location")
            raw = await response.read()
    except TimeoutError:
        raise Transient(_("no answer within {s:g} s", s=timeout), ambiguous=True) from None
    except aiohttp.ClientConnectorError as exc:
        why = exc.os_error.strerror or str(exc.os_error) if exc.os_error else _("connection failed")
        # The request never left this machine: no chance it was accepted.
        raise Transient(
            _("cannot connect to {host}:{port} ({why})", host=exc.host, port=exc.port, why=why),
            ambiguous=False,
            connected=False,
        ) from None
    except aiohttp.ClientError as exc:
        name = type(exc).__name__
        raise Transient(
            _("connection lost before the answer ({name})", name=name), ambiguous=True
        ) from None
    if status == 429:
        raise Transient("HTTP 429 Too Many Requests", ambiguous=False, retry_after=retry_after)
    if status >= 500:
        raise Transient(f"HTTP {status} {reason}".strip(), ambiguous=True, retry_after=retry_after)
    if status >= 400:
        raise HttpRefused(status, reason, url)
    if 300 <= status < 400:
        raise Redirected(status, reason, url, location)
    try:
        data = json.loads(raw)
    except ValueError:
        raise Transient(
            _("HTTP {status} answer is not JSON", status=status), ambiguous=True
        ) from None
    if not isinstance(data, dict):
        raise Transient(
            _("HTTP {status} answer is not a JSON object", status=status), ambiguous=True
        )
    # A key of a few characters (a test's "k") is no secret, and replacing it would mangle text.
    secrets = tuple(
        k for k in (body.get("ApiKey"), body.get("SecretKey")) if isinstance(k, str) and len(k) >= 6
    )
    if any(k.encode() in raw for k in secrets):
        # Servers and gateways echo requests back: no answer of any endpoint may
        # carry the keys into a message, a result file or the terminal.
        return {key: _without(value, secrets) for key, value in data.items()}
    return data


def _without(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with the keys replaced by *** in every string value (field names kept)."""
    if isinstance(value, str):
        return redacted(value, secrets)
    if isinstance(value, dict):
        return {k: _without(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(v, secrets) for v in value]
    return value


async def send_message(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], timeout: float
) -> Answer:
    """One send attempt: a final Answer, or Transient when it should be tried again."""
    data = await post_json(session, url, body, timeout, content_type=TEXT)
    if data.get("CodeResult") is None or not str(data["CodeResult"]).strip():
        # Not an answer (a proxy's JSON, a half-built reply): the request may
        # have been accepted, so it is retried with the same RequestId.
        raise Transient(_("answer has no CodeResult"), ambiguous=True)
    answer = Answer.from_json(data).without(
        str(body.get("ApiKey", "")), str(body.get("SecretKey", ""))
    )
    if answer.verdict is Verdict.RETRY:
        reason = f"CodeResult {answer.code}" + (f" {answer.message}" if answer.message else "")
        raise Transient(reason, ambiguous=False, answer=answer)
    return answer


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
