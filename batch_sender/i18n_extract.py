"""Babel extractor for the CLI's command docstrings: Click shows them as the commands' help.

Babel's own Python extractor takes only calls such as _("..."); a command's
help is its docstring, stored as Click shows it (inspect.cleandoc), which is
also how i18n.help_text looks it up.
"""

from __future__ import annotations

import ast
import inspect
import io
from collections.abc import Iterator
from typing import IO, Any


def extract_cli(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, Any, Any, Any]]:
    """Babel's Python extraction, then the commands' docstrings (a file goes to one method)."""
    from babel.messages.extract import extract_python

    source = fileobj.read()
    yield from extract_python(io.BytesIO(source), keywords, comment_tags, options)
    yield from extract_docstrings(io.BytesIO(source), keywords, comment_tags, options)


def extract_docstrings(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, Any, Any, Any]]:
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
            continue
        decorators = [ast.unparse(d) for d in node.decorator_list]
        declared = [d for d in decorators if ".command(" in d or ".group(" in d]
        if not declared or "help=" in declared[0]:  # no command, or its help given apart
            continue
        doc = ast.get_docstring(node, clean=False)
        if doc:
            yield node.body[0].lineno, None, inspect.cleandoc(doc), []
