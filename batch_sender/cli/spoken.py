"""Click in the reader's language: help translated when shown, and Click's own texts."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from batch_sender.i18n import (
    LANGUAGES,
    N_,
    WARNING,
    _,
    click_plural,
    click_text,
    fill,
    help_text,
    language_from_env,
    language_of,
    set_language,
)

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED_LINE = N_("Interrupted: rerun the same command to continue.")


def interrupted_line() -> str:
    return _(INTERRUPTED_LINE)


class _Spoken:
    """Help shown in the reader's language: translated when shown, not when declared.

    Commands are declared at import, before anyone knows who will read them
    (a test, a `--lang` on the command line).
    """

    _help: str | None
    help_values: Mapping[str, str] = {}
    """Filled into the help's {placeholders} once translated: values the code holds."""

    def __init__(self, *args: Any, help_values: Mapping[str, str] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        if help_values:
            self.help_values = help_values

    @property
    def help(self) -> str | None:
        if not self._help:
            return self._help
        text = help_text(self._help)
        return fill(text, self.help_values) if self.help_values else text

    @help.setter
    def help(self, value: str | None) -> None:
        self._help = value


class Option(_Spoken, click.Option):
    pass


class _SpokenCommand(_Spoken):
    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        found: click.Option | None = super().get_help_option(ctx)  # type: ignore[misc]
        if found is not None:  # made once by Click, in whichever language came first
            found.help = click_text("Show this message and exit.")
        return found


def _choose_language(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:  # over the locale's, which Group.make_context chose
        set_language(value)


def lang_option() -> Option:
    """--lang, on the group and on every command: `batch-sender validate x.csv --lang vi`.

    Eager, so that even the command's own usage errors are in that language;
    the command's value comes last, so it wins over the group's.
    """
    return Option(
        ["--lang"],
        type=click.Choice(["vi", "en"]),
        default=None,
        is_eager=True,
        expose_value=False,
        callback=_choose_language,
        help=N_(
            "Language of what is shown: vi (Vietnamese) or en (English); by default "
            "BATCH_SENDER_LANG, then the locale (LC_ALL, LC_MESSAGES, LANG)."
        ),
    )


class _WithLang(_SpokenCommand):
    params: list[click.Parameter]

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.params.append(lang_option())


class Command(_WithLang, click.Command):
    pass


class Group(_WithLang, click.Group):
    command_class = Command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if parent is None:  # the command line's: the locale's language until --lang is read
            _warn_unknown_language()
            set_language(language_from_env())
        return super().make_context(info_name, args, parent, **extra)


def _warn_unknown_language() -> None:
    """BATCH_SENDER_LANG naming no language we speak: said, in English (which one to say it in?)."""
    value = os.environ.get("BATCH_SENDER_LANG")
    if value and language_of(value) is None:
        supported = ", ".join(LANGUAGES)
        click.echo(
            f"{WARNING}BATCH_SENDER_LANG={value!r} is not a language batch-sender speaks "
            f"({supported}); it is ignored",
            err=True,
        )


def option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """click.option, its help shown in the reader's language."""
    attrs.setdefault("cls", Option)
    return click.option(*decls, **attrs)


def _speak_click() -> None:
    """Click's own texts (Usage:, Options:, its errors) through our catalog.

    Click asks the standard gettext functions, which it imports by name into
    each of its modules; those names are pointed at the language chosen here.
    """
    import importlib

    for name in (
        "core",
        "decorators",
        "exceptions",
        "formatting",
        "parser",
        "termui",
        "types",
        "utils",
        "shell_completion",
    ):
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = click_text  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = click_plural  # type: ignore[attr-defined]


_speak_click()

# Click shows these through its gettext name, but its source passes them as variables.
_CLICK_WORDS = (N_("required"),)
