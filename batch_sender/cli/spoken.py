"""Click in the reader's language: help translated when shown, and Click's own texts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from batch_sender.i18n import (
    N_,
    _,
    click_plural,
    click_text,
    fill,
    help_text,
    language_from_env,
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


class Command(_SpokenCommand, click.Command):
    pass


class Group(_SpokenCommand, click.Group):
    command_class = Command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if parent is None:  # the command line's: the locale's language until --lang is read
            set_language(language_from_env())
        return super().make_context(info_name, args, parent, **extra)


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
