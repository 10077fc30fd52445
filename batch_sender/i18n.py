"""The language a person reads: gettext catalogs, chosen per caller.

Only text meant for a person goes through here. Column names, status values,
JSON keys, log events and exit codes never do: they are the same in every
language.

The library speaks English unless BATCH_SENDER_LANG or `set_language`
chooses: a scheduler's worker under a Vietnamese locale keeps the
exceptions, warnings and log lines its alert rules match. The CLI reads the
locale too (LC_ALL, LC_MESSAGES, LANG, as POSIX ranks them), and --lang over
all; the locale need not be installed: it is only read, never passed to
setlocale. `set_language` sets the process's language, which every thread
sees (a notebook may run each cell in another context); `speaking` chooses
for one block of one context, and the worker threads a call starts inherit
its context.

Messages are translated when they are made (an error carries its text in the
language of the caller that raised it) and filled by `_()` itself, which
writes numbers and dates the language's way: `{n:,}` is 36,600 in English
and 36.600 in Vietnamese. Placeholders that are not given (`{opt:rate}`, see
errors.py) are left for later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import gettext
import inspect
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path

LANGUAGES = ("en", "vi")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "batch_sender"
CLICK_DOMAIN = "click"

_chosen: ContextVar[str | None] = ContextVar("batch_sender_language", default=None)
"""The language `speaking` chose for the block running in this context."""
_process: list[str | None] = [None]
"""The language `set_language` chose for the whole process (None: the default)."""
_CLI_WORDS: ContextVar[bool] = ContextVar("batch_sender_cli_words", default=False)
"""Inside `in_cli_words`: messages a run writes for its reader name settings as the CLI does."""
_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^{}]*))?\}")


@contextlib.contextmanager
def in_cli_words() -> Iterator[None]:
    """What a run writes for its reader (the summary file) names --options, as stderr does."""
    token = _CLI_WORDS.set(True)
    try:
        yield
    finally:
        _CLI_WORDS.reset(token)


def in_cli() -> bool:
    return _CLI_WORDS.get()


def language_of(value: str | None) -> str | None:
    """'vi' or 'en' for a language or locale name that starts with it (vi, vi_VN.UTF-8,
    Vietnamese, en_US), whatever its case; else None."""
    if not value:
        return None
    value = value.strip().lower()
    for lang in LANGUAGES:
        if value.startswith(lang):
            return lang
    return None


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The CLI's default: BATCH_SENDER_LANG, then the locale as POSIX ranks it; else English."""
    env = os.environ if environ is None else environ
    chosen = language_of(env.get("BATCH_SENDER_LANG"))
    if chosen is not None:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:  # the first one set decides, even if it names another language
            return language_of(value) or "en"
    return "en"


def current() -> str:
    """The language text made now is in."""
    return _chosen.get() or _process[0] or language_of(os.environ.get("BATCH_SENDER_LANG")) or "en"


def set_language(lang: str | None) -> None:
    """Speak `lang` ('vi' or 'en') from now on, in every thread; None: the default again.

    The default is BATCH_SENDER_LANG, else English (the locale is the CLI's
    alone). Messages are made in the language chosen when they are made: an
    exception raised after `set_language("vi")` carries its message in Vietnamese.
    """
    _check(lang)
    _process[0] = lang


def _check(lang: str | None) -> None:
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")


@contextlib.contextmanager
def speaking(lang: str | None) -> Iterator[None]:
    """`lang` inside the block, in this context (None: the process's), the earlier after it."""
    _check(lang)
    token = _chosen.set(lang)
    try:
        yield
    finally:
        _chosen.reset(token)


@functools.cache
def catalog(lang: str, domain: str = DOMAIN) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(domain, LOCALE_DIR, languages=[lang], fallback=True)


@functools.cache
def _cleaned(lang: str) -> dict[str, str]:
    """Multi-line texts (help, docstrings) by their inspect.cleandoc form, as Click shows them."""
    table: dict[str, str] = {}
    for domain in (DOMAIN, CLICK_DOMAIN):
        messages = getattr(catalog(lang, domain), "_catalog", {})
        for msgid, msgstr in messages.items():
            if isinstance(msgid, str) and msgid and msgstr:
                table.setdefault(inspect.cleandoc(msgid), inspect.cleandoc(msgstr))
    return table


def _(message: str, /, **values: object) -> str:
    """`message` in the current language, its {placeholders} filled from `values`."""
    lang = current()
    text = message if lang == "en" else catalog(lang).gettext(message)
    return fill(text, values, lang) if values else text


def ngettext(singular: str, plural: str, n: int, /, **values: object) -> str:
    """The form of the message for `n` (given to the text as {n}) in the current language."""
    lang = current()
    if lang == "en":
        text = singular if n == 1 else plural
    else:
        text = catalog(lang).ngettext(singular, plural, n)
    return fill(text, {"n": n, **values}, lang)


def N_(message: str) -> str:
    """Marks a text for the catalog; it is translated where it is shown (`help_text`)."""
    return message


def help_text(text: str) -> str:
    """A help text or docstring in the current language, matched as Click shows it."""
    lang = current()
    if lang == "en" or not text:
        return text
    found = catalog(lang).gettext(text)
    if found != text:
        return found
    return _cleaned(lang).get(inspect.cleandoc(text), text)


def click_text(message: str) -> str:
    """One of Click's own messages (usage, errors, the help option) in the current language."""
    lang = current()
    if lang == "en":
        return message
    found = catalog(lang, CLICK_DOMAIN).gettext(message)
    return found if found != message else catalog(lang).gettext(message)


def click_plural(singular: str, plural: str, n: int) -> str:
    lang = current()
    if lang == "en":
        return singular if n == 1 else plural
    return catalog(lang, CLICK_DOMAIN).ngettext(singular, plural, n)


def fill(text: str, values: Mapping[str, object], lang: str | None = None) -> str:
    """Put `values` in their {name} or {name:spec} places, the language's way."""
    lang = lang or current()

    def put(m: re.Match[str]) -> str:
        name, spec = m[1], m[2]
        if name not in values:
            return m[0]
        return shown(values[name], spec or "", lang)

    return _PLACEHOLDER.sub(put, text)


def shown(value: object, spec: str = "", lang: str | None = None) -> str:
    """A value as a person reads it: 36.600 and 28/11/2026 in Vietnamese, 36,600 in English."""
    lang = lang or current()
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal | dt.date):
        return format(value, spec)
    if isinstance(value, dt.date):
        if spec:
            return format(value, spec)
        if isinstance(value, dt.datetime):
            return value.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")
        return value.strftime("%d/%m/%Y" if lang == "vi" else "%Y-%m-%d")
    text = format(value, spec)
    if lang == "vi" and (spec or not isinstance(value, int)):
        text = text.translate(_VI_DIGITS)
    return text


def number(value: float, spec: str = ",") -> str:
    """A number for a person, grouped: 36,600 / 36.600."""
    return shown(value, spec)


_VI_DIGITS = str.maketrans({",": ".", ".": ","})

WARNING = N_("warning: ")


def warning(text: str) -> str:
    """A warning line: what the CLI keeps under --quiet and reports list as warnings."""
    return _(WARNING) + text


def is_warning(line: str) -> bool:
    return line.startswith((WARNING, _(WARNING)))


# What each status value (the result file's, which never changes) reads as in a line.
_STATUS_WORDS = {
    "valid": N_("valid"),
    "invalid": N_("invalid"),
    "duplicate": N_("duplicate"),
    "excluded": N_("excluded"),
    "accepted": N_("accepted"),
    "rejected": N_("rejected"),
    "failed": N_("failed"),
    "unsent": N_("unsent"),
    "delivered": N_("delivered"),
    "pending": N_("pending"),
}


def status_word(status: str) -> str:
    """A status value as a person reads it in a line; the value itself stays as it is."""
    word = _STATUS_WORDS.get(status)
    return _(word) if word is not None else status
