"""The account before the first message: GetBalance_json (keys, balance) and GetListZOA (OAID)."""

from __future__ import annotations

from typing import Any

import aiohttp

from batch_sender.errors import AccountError
from batch_sender.esms import protocol as esms
from batch_sender.esms.client import HttpRefused, Transient, new_session
from batch_sender.esms.retry import or_stop, post_json_retried
from batch_sender.i18n import _, warning
from batch_sender.sending.config import SendConfig


async def account_request(
    session: aiohttp.ClientSession, config: SendConfig, path: str
) -> dict[str, Any]:
    """GetBalance_json or ZNS/GetListZOA (the same body), with the run's retry policy."""
    return await post_json_retried(
        session,
        config.base_url.rstrip("/") + path,
        esms.balance_body(config.credentials),
        timeout=config.timeout,
        max_attempts=config.max_attempts,
        backoff=config.backoff,
    )


async def check_account(session: aiohttp.ClientSession, config: SendConfig) -> str:
    """GetBalance_json before the first message: wrong keys stop here, nothing sent."""
    data = await or_stop(
        account_request(session, config, esms.BALANCE_PATH),
        unreachable=_(
            "cannot reach eSMS at {url}: check the network and {opt:base_url}, then rerun",
            url=config.base_url,
        ),
        option="{opt:base_url}",
    )
    # GetBalance_json answers CodeResponse (its page), not CodeResult.
    raw = data.get("CodeResponse")
    if raw is None:
        raw = data.get("CodeResult")
    code = "" if raw is None else str(raw).strip()
    if code == esms.ACCEPTED:
        return str(data.get("Balance", ""))
    if code in esms.ACCOUNT_CODES:
        raise AccountError(code, _(esms.ACCOUNT_CODES[code]))
    message = str(data.get("ErrorMessage") or "")
    shown = _("code {code}", code=code) if code else _("no CodeResponse")
    raise AccountError(
        code,
        _("eSMS refused the account check: {what} {message}", what=shown, message=message).strip(),
    )


async def oaid_warnings(session: aiohttp.ClientSession, config: SendConfig) -> list[str]:
    """ZNS/GetListZOA: is the OAID one of the account's OAs? Warnings only, never a stop.

    The page does not say that this list holds every OA allowed to send
    follower messages, so a miss is a warning (a typo shows here, before
    the first request); eSMS's 799 on the first send still stops the run.
    """
    try:
        data = await account_request(session, config, esms.LIST_OA_PATH)
    except (Transient, HttpRefused) as exc:
        reason = exc.reason if isinstance(exc, Transient) else str(exc)
        return [_unchecked(reason)]
    code = str(data.get("CodeResult", "")).strip()
    listed = data.get("ZOAList")
    if code != esms.ACCEPTED or not isinstance(listed, list):
        message = str(data.get("ErrorMessage") or "").strip()
        answered = _("answered code {code} {message}", code=code or _("none"), message=message)
        return [_unchecked(answered.rstrip())]
    oas = [oa for oa in listed if isinstance(oa, dict)]
    if any(str(oa.get("OAID", "")).strip() == config.credentials.oaid for oa in oas):
        return []
    found = ", ".join(f"{oa.get('OAID', '')} ({oa.get('OAName', '')})" for oa in oas) or _("none")
    return [
        warning(
            _(
                "OAID {oaid} is not among the account's Zalo OAs "
                "(ZNS/GetListZOA lists: {found}): check ESMS_OAID / --oaid; sending anyway, "
                "eSMS stops the run with 799 if it is wrong",
                oaid=config.credentials.oaid,
                found=found,
            )
        )
    ]


async def account_balance(base_url: str, api_key: str, secret_key: str, timeout: float) -> str:
    """The balance eSMS reports for these keys; AccountError if it refuses them."""
    config = SendConfig(
        base_url=base_url,
        credentials=esms.Credentials(api_key, secret_key, ""),
        timeout=timeout,
        max_attempts=3,
    )
    session = new_session(1)
    try:
        return await check_account(session, config)
    finally:
        await session.close()


def _unchecked(reason: str) -> str:
    return warning(
        _(
            "the OAID was not checked against the account's OAs (ZNS/GetListZOA: {reason}); "
            "sending anyway",
            reason=reason,
        )
    )
