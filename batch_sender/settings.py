"""Settings checked before anything is read or sent: where eSMS is, and the account."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from batch_sender.errors import UsageError, for_cli
from batch_sender.i18n import _

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


def check_base_url(url: str, *, allow_insecure_http: bool, option: str = "{opt:base_url}") -> None:
    """Refuse a base URL that would send the keys in clear over a network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            _("{option} {url} must be an http:// or https:// URL", option=option, url=repr(url))
        )
    if parts.scheme == "https" or allow_insecure_http:
        return
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            _(
                "{option} {url} is plain http: the ApiKey and SecretKey would cross the network "
                "in clear; use https://, or pass {opt:allow_insecure_http}",
                option=option,
                url=url,
            )
        )


def require_account(
    base_url: str,
    allow_insecure_http: bool,
    credentials: dict[str, str | None],
    option: str = "{opt:base_url}",
) -> None:
    """Before anything is sent: keys that would travel in clear, or credentials missing.

    credentials: keyword name (api_key, secret_key, oaid) -> value.
    """
    check_base_url(base_url, allow_insecure_http=allow_insecure_http, option=option)
    missing = [name for name, value in credentials.items() if not value]
    if missing:
        raise MissingCredentials(missing, simulate=option == "{opt:base_url}")


class MissingCredentials(UsageError):
    """Keys or OAID not given: each side says where they come from in its own words."""

    def __init__(self, missing: list[str], *, simulate: bool) -> None:
        super().__init__(_("missing credentials: {names}", names=", ".join(missing)))
        self.missing = missing
        self.simulate = simulate

    def __str__(self) -> str:
        if self.simulate:
            return _(
                "missing credentials: {names}; pass them, or simulate=True to try against "
                "the simulator",
                names=", ".join(self.missing),
            )
        return _("missing credentials: {names}; pass them", names=", ".join(self.missing))

    @property
    def cli_message(self) -> str:
        names = ", ".join(for_cli(f"{{env:{name}}} ({{opt:{name}}})") for name in self.missing)
        if self.simulate:
            return _(
                "missing credentials: {names}; set them in the environment or .env, "
                "or pass --simulate to try against the simulator",
                names=names,
            )
        return _("missing credentials: {names}; set them in the environment or .env", names=names)
