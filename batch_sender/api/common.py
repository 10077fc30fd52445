"""What the public functions share: the sync twins' signatures, counts, the summary file."""

from __future__ import annotations

import errno
import inspect
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from batch_sender.api.reports import Problem, Progress
from batch_sender.esms.protocol import Credentials
from batch_sender.i18n import _, is_warning
from batch_sender.options import Account

if TYPE_CHECKING:
    from batch_sender.errors import BatchSenderError, UsageError
    from batch_sender.results.tally import Tally

_T = TypeVar("_T")
_P = ParamSpec("_P")


def options_of(
    twin: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[[Callable[..., _T]], Callable[_P, _T]]:
    """Give a blocking function the keyword arguments (and signature) of its async twin."""

    def typed(fn: Callable[..., _T]) -> Callable[_P, _T]:
        fn.__signature__ = inspect.signature(twin)  # type: ignore[attr-defined]
        return fn

    return typed


def counts(statuses: Mapping[str, int]) -> dict[str, int]:
    from batch_sender.results.tally import status_rank

    return dict(sorted(statuses.items(), key=lambda kv: status_rank(kv[0])))


def problems(tally: Tally) -> tuple[Problem, ...]:
    return tuple(Problem(row, status, message) for row, status, message in tally.problems)


def run_warnings(plan: list[str], said: list[str]) -> list[str]:
    """Every warning of a run once: those of the plan (said before the campaign ran) first."""
    return list(dict.fromkeys([*(line for line in plan if is_warning(line)), *said]))


def progress(on_progress: Callable[[Progress], None]) -> Callable[[int, int], None]:
    return lambda done, total: on_progress(Progress(done, total))


def write_summary(
    path: Path, summary: dict[str, Any], stopped: Callable[[], bool] | None = None
) -> None:
    """stopped: a FIFO's reader is waited for until then (NoReader, see opened_fifo)."""
    import json

    from batch_sender.results.files import atomic_text_file

    with atomic_text_file(path, stopped=stopped) as f:
        json.dump(summary, f, ensure_ascii=False, indent=2)
        f.write("\n")


def user_error(exc: BaseException) -> BatchSenderError | None:
    """The one-line error (with its exit code) that `exc` stands for, or None if it is a bug.

    A BatchSenderError is one already. A full or read-only disk under a file
    a command writes is something to fix and rerun (exit 3), not a crash,
    though it may surface as a bare OSError from any file written.
    """
    from batch_sender.errors import BatchSenderError
    from batch_sender.journal.errors import WriteFailed
    from batch_sender.results.files import WRITE_FAILURES

    if isinstance(exc, BatchSenderError):
        return exc
    if not isinstance(exc, OSError) or not exc.filename:
        return None
    if exc.errno == errno.ENAMETOOLONG:  # the options name the files: a usage error
        return UsageError(
            _(
                "{filename}: the name is too long for its folder; choose a shorter one",
                filename=exc.filename,
            )
        )
    if exc.errno not in WRITE_FAILURES:
        return None
    return WriteFailed(str(exc.filename), Path(exc.filename), exc)


def credentials(account: Account, *, simulate: bool) -> Credentials:
    """The keys a run sends: the account's own (checked by require_account first),
    or, for a run that asked to simulate, each one not given the simulator's demo key."""
    if simulate:
        from batch_sender.simulator.accounts import with_demo_keys

        return with_demo_keys(account.api_key, account.secret_key, account.oaid)
    assert account.api_key and account.secret_key and account.oaid, "require_account first"
    return Credentials(account.api_key, account.secret_key, account.oaid)
