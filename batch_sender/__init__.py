"""batch-sender: Zalo OA photo messages through eSMS.vn, from a spreadsheet.

Every command of the CLI is a function here, with an `_async` twin for
callers inside an event loop:

    account = batch_sender.Account.from_env()      # ESMS_* variables and .env
    report = batch_sender.send("campaign.csv", "results.csv", account=account)
    report.exit_code, report.counts, report.as_dict()
    batch_sender.read_results("results.csv")  # a DataFrame: ids and codes as text

Options come in groups (`Account`, `Reading`, `SendingPolicy`, `Listening`),
or flat as keyword arguments (`rate=20`). Each function returns a report
(`exit_code`, `counts`, `warnings`, `as_dict()`) or raises a
`BatchSenderError` (`InputError`, `UsageError`, `AccountError`, ...). The
library prints nothing, installs no signal handler and never exits the
process: the CLI (`batch-sender`) owns those. It logs through `logging`
(logger `batch_sender`).

Messages (errors, report lines, log lines, ErrorMessage, the preview and
report pages) are in English, whatever the locale: Vietnamese after
`set_language("vi")` (the whole process, every thread) or with
BATCH_SENDER_LANG=vi. Column names, status values, JSON keys and exception
fields never change.
"""

import logging

from batch_sender.api.account import audience, audience_async, balance, balance_async
from batch_sender.api.common import user_error
from batch_sender.api.delivery import (
    report,
    report_async,
    serve_callbacks,
    serve_callbacks_async,
    status,
    status_async,
)
from batch_sender.api.reports import (
    AudienceReport,
    BalanceReport,
    CallbacksReport,
    CampaignReport,
    PreviewReport,
    Problem,
    Progress,
    RowResult,
    SendReport,
    StatusReport,
    ValidateReport,
)
from batch_sender.api.results import read_results
from batch_sender.api.send import send, send_async
from batch_sender.api.validate import preview, preview_async, validate, validate_async
from batch_sender.errors import AccountError, BatchSenderError, InputError, UsageError
from batch_sender.exit_codes import ExitCode
from batch_sender.i18n import set_language
from batch_sender.options import Account, Listening, Reading, SendingPolicy

__version__ = "0.1.0"

# Records go wherever the application sends them (Airflow's task log, the
# CLI's stderr); with no handler configured, Python's last resort would print
# warnings by itself, and the library prints nothing.
logging.getLogger("batch_sender").addHandler(logging.NullHandler())

__all__ = [
    "Account",
    "AccountError",
    "AudienceReport",
    "BalanceReport",
    "BatchSenderError",
    "CallbacksReport",
    "CampaignReport",
    "ExitCode",
    "InputError",
    "Listening",
    "PreviewReport",
    "Problem",
    "Progress",
    "Reading",
    "RowResult",
    "SendReport",
    "SendingPolicy",
    "StatusReport",
    "UsageError",
    "ValidateReport",
    "__version__",
    "audience",
    "audience_async",
    "balance",
    "balance_async",
    "preview",
    "preview_async",
    "read_results",
    "report",
    "report_async",
    "send",
    "send_async",
    "serve_callbacks",
    "serve_callbacks_async",
    "set_language",
    "status",
    "status_async",
    "user_error",
    "validate",
    "validate_async",
]
