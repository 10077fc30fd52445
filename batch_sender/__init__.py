"""batch-sender: Zalo OA photo messages through eSMS.vn, from a spreadsheet.

The Python API (see the README, "Use from Python"):

    report = batch_sender.send("campaign.csv", "results.csv", api_key=..., secret_key=...,
                               oaid=...)
    report.exit_code, report.counts, report.as_dict()

`validate` / `send` and their `_async` twins take the CLI's options as
keyword arguments. The library prints nothing, installs no signal handler
and never exits the process: the CLI (`batch-sender`) owns those.
"""

from batch_sender.api.commands import (
    Problem,
    Progress,
    RowResult,
    SendReport,
    ValidateReport,
    send,
    send_async,
    validate,
    validate_async,
)
from batch_sender.errors import AccountError, BatchSenderError, InputError, UsageError
from batch_sender.exit_codes import ExitCode

__version__ = "0.1.0"

__all__ = [
    "AccountError",
    "BatchSenderError",
    "ExitCode",
    "InputError",
    "Problem",
    "Progress",
    "RowResult",
    "SendReport",
    "UsageError",
    "ValidateReport",
    "__version__",
    "send",
    "send_async",
    "validate",
    "validate_async",
]
