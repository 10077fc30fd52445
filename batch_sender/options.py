"""The options the commands share, in groups: the account, how INPUT is read, the sending pace.

Each default is declared here and nowhere else: the CLI's options, the
public functions and the internal configurations all take theirs from these
classes. The groups are frozen: a caller builds one, shares it between
runs, and changes a field with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypedDict, TypeVar

from batch_sender.esms.protocol import DEFAULT_BASE_URL, DEFAULT_STATUS_BASE_URL
from batch_sender.settings import DELIMITER_NAMES

PathLike = str | os.PathLike[str]

_ENVIRONMENT = {
    "api_key": "ESMS_API_KEY",
    "secret_key": "ESMS_SECRET_KEY",
    "oaid": "ESMS_OAID",
    "callback_url": "ESMS_CALLBACK_URL",
    "base_url": "ESMS_BASE_URL",
    "status_base_url": "ESMS_STATUS_BASE_URL",
}


@dataclass(frozen=True)
class Account:
    """The eSMS account and where eSMS is; the keys never appear in its repr."""

    api_key: str | None = field(default=None, repr=False)
    """eSMS's ApiKey (environment: ESMS_API_KEY)."""
    secret_key: str | None = field(default=None, repr=False)
    """eSMS's SecretKey (ESMS_SECRET_KEY)."""
    oaid: str | None = None
    """The Zalo OA id messages are sent from (ESMS_OAID)."""
    callback_url: str | None = None
    """Where eSMS reports each message's delivery (ESMS_CALLBACK_URL); None for no reports."""
    base_url: str = DEFAULT_BASE_URL
    """eSMS's API base; endpoint paths are appended to it (ESMS_BASE_URL)."""
    status_base_url: str = DEFAULT_STATUS_BASE_URL
    """eSMS's delivery status look-up base, for `status` (ESMS_STATUS_BASE_URL)."""
    allow_insecure_http: bool = False
    """Allow a plain http:// base that is not this machine (the keys then travel in clear)."""

    @classmethod
    def from_env(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        dotenv: PathLike | None = ".env",
        **overrides: Any,
    ) -> Account:
        """The account from ESMS_* variables, then the `dotenv` file, then `overrides`.

        As the CLI reads them: the environment wins over the file (a relative
        `dotenv` is found in the working directory; None reads no file), and
        an override that is not None wins over both. Nothing is written to
        the environment.
        """
        found: dict[str, Any] = {}
        if dotenv is not None and Path(dotenv).is_file():
            from dotenv import dotenv_values

            found.update(_from(dotenv_values(Path(dotenv))))
        found.update(_from(os.environ if environ is None else environ))
        found.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**found)


def _from(variables: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, env in _ENVIRONMENT.items() if (value := variables.get(env))}


@dataclass(frozen=True)
class Reading:
    """How INPUT is read, and what the campaign adds to each row (template, image, exclusions)."""

    user_id_column: str = "user_id"
    """The column with the Zalo user_id."""
    text_column: str = "text"
    """The column with the message text (not needed with `template`)."""
    url_column: str = "url"
    """The column with the image URL (not needed with `image_url`)."""
    encoding: str | None = None
    """A CSV input's encoding; None: UTF-8, with or without BOM."""
    delimiter: str | None = None
    """A CSV delimiter: comma, semicolon, tab, pipe (or the character); None: detected."""
    sheet: str | None = None
    """A workbook's sheet; None: the first visible one."""
    hidden_rows: str = "refuse"
    """Rows hidden in a workbook (by hand or a filter): "refuse" the file, "skip" them
    (excluded, never sent) or "send" them as any row."""
    campaign_id: str | None = None
    """Seeds every RequestId; None: INPUT's file name without its extension."""
    chunk_rows: int = 5_000
    """Rows read at a time: memory against speed."""
    template: str | None = None
    """One text for every row, {column} placeholders filled from the row."""
    template_file: PathLike | None = None
    """Read `template` from this UTF-8 file."""
    exclude: tuple[PathLike, ...] = ()
    """Suppression lists: rows whose user_id is on one are `excluded`, never sent."""
    image_url: str | None = None
    """One image for every row."""
    allow_repeats: bool = False
    """Send a follower's other rows too; by default one message per follower per campaign."""
    check_images: bool = False
    """Fetch each distinct image URL once and mark the rows whose image cannot be sent."""

    delimiter_names: ClassVar[tuple[str, ...]] = tuple(DELIMITER_NAMES)
    """The values `delimiter` takes."""

    def __post_init__(self) -> None:
        exclude: Any = self.exclude
        if isinstance(exclude, (str, os.PathLike)):  # one list, not its name's characters
            object.__setattr__(self, "exclude", (exclude,))
        elif not isinstance(exclude, tuple):  # a list given: the group stays immutable
            object.__setattr__(self, "exclude", tuple(exclude))


@dataclass(frozen=True)
class SendingPolicy:
    """How fast and how hard eSMS is asked: the pace, the waits and the retries."""

    rate: float = 10.0
    """Requests per second at most; 0 for no limit."""
    timeout: float = 30.0
    """Seconds to wait for each answer."""
    concurrency: int | None = None
    """Requests in flight at most; None derives it from the rate and the latency."""
    max_attempts: int = 5
    """HTTP requests per row at most (network errors, 5xx, 429, 160, 105)."""
    backoff: float = 0.5
    """Seconds before the first retry; doubled each time, with jitter."""


@dataclass(frozen=True)
class Listening:
    """Where the callback receiver listens for eSMS's delivery reports."""

    host: str = "127.0.0.1"
    """The address; 0.0.0.0 takes connections from other machines (then `token` is required)."""
    port: int = 8080
    """The port; 0 for any free one."""
    token: str | None = field(default=None, repr=False)
    """Take reports only at /esms/callback/TOKEN: eSMS signs nothing, so use a long random one."""
    every: float = 5.0
    """Seconds between rewrites of the result file."""


class AccountKeywords(TypedDict, total=False):
    """`Account`'s fields, as flat keyword arguments."""

    api_key: str | None
    secret_key: str | None
    oaid: str | None
    callback_url: str | None
    base_url: str
    status_base_url: str
    allow_insecure_http: bool


class ReadingKeywords(TypedDict, total=False):
    """`Reading`'s fields, as flat keyword arguments."""

    user_id_column: str
    text_column: str
    url_column: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    hidden_rows: str
    campaign_id: str | None
    chunk_rows: int
    template: str | None
    template_file: PathLike | None
    exclude: PathLike | Iterable[PathLike]
    image_url: str | None
    allow_repeats: bool
    check_images: bool


class PolicyKeywords(TypedDict, total=False):
    """`SendingPolicy`'s fields, as flat keyword arguments."""

    rate: float
    timeout: float
    concurrency: int | None
    max_attempts: int
    backoff: float


class ListeningKeywords(TypedDict, total=False):
    """`Listening`'s fields, as flat keyword arguments."""

    host: str
    port: int
    token: str | None
    every: float


class SendKeywords(AccountKeywords, ReadingKeywords, PolicyKeywords, total=False):
    """Every group's fields, as `send` takes them flat."""


_G = TypeVar("_G", Account, Reading, SendingPolicy, Listening)


def grouped(group: type[_G], given: _G | None, flat: Mapping[str, Any]) -> _G:
    """`given` (or the defaults) with the flat keyword arguments that are its fields."""
    names = {f.name for f in dataclasses.fields(group)}
    picked = {name: value for name, value in flat.items() if name in names}
    if given is None:
        return group(**picked)
    return dataclasses.replace(given, **picked)


def refuse_unknown(command: str, flat: Mapping[str, Any], *groups: type[Any]) -> None:
    """A keyword argument that no group has: the TypeError Python gives for any function."""
    known = {f.name for group in groups for f in dataclasses.fields(group)}
    for name in flat:
        if name not in known:
            raise TypeError(f"{command}() got an unexpected keyword argument {name!r}")
