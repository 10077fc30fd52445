"""Settings checked before anything is read or sent: where eSMS is, and the account."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from batch_sender.errors import UsageError

DELIMITER_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "pipe": "|",
    ",": ",",
    ";": ";",
    "|": "|",
    "\t": "\t",
}
"""--delimiter's values: names, so that the help shows no bare tab and no `|` as a choice."""


def check_base_url(url: str, *, allow_insecure_http: bool, option: str = "--base-url") -> None:
    """Refuse a base URL that would send the keys in clear over a network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} {url!r} must be an http:// or https:// URL")
    if parts.scheme == "https" or allow_insecure_http:
        return
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"{option} {url} is plain http: the ApiKey and SecretKey would cross the "
            "network in clear; use https://, or pass --allow-insecure-http"
        )


def require_account(
    base_url: str,
    allow_insecure_http: bool,
    credentials: tuple[tuple[str | None, str, str], ...],
    option: str = "--base-url",
) -> None:
    """Before anything is sent: keys that would travel in clear, or credentials missing."""
    check_base_url(base_url, allow_insecure_http=allow_insecure_http, option=option)
    missing = [f"{env} ({flag})" for value, env, flag in credentials if not value]
    if missing:
        hint = ", or pass --simulate to try against the simulator" if option == "--base-url" else ""
        raise UsageError(
            f"missing credentials: {', '.join(missing)}; set them in the environment or .env" + hint
        )
