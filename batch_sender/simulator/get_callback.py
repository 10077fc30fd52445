"""GetCallback: what eSMS knows of the asked SMSIDs (the first 200 of them).

As the page shows: Code a number, Data_callback records in PascalCase with
numbers as numbers and RequestId null, ErrorInfo Zalo's JSON followed by
eSMS's own text. Only messages sent with a CallbackUrl are known.
"""

from __future__ import annotations

from aiohttp import web

from batch_sender.simulator.accounts import Account
from batch_sender.simulator.callbacks import Reporter
from batch_sender.simulator.wire import json_body

ASKED_AT_MOST = 200


class GetCallback:
    def __init__(self, account: Account, reporter: Reporter) -> None:
        self.account = account
        self.reporter = reporter

    async def handle(self, request: web.Request) -> web.Response:
        body = await json_body(request) or {}
        if not self.account.keys_ok(body):
            return web.json_response({"Code": 101, "Message": "Authorize Failed"})
        if body.get("OAId") != self.account.oaid:
            return web.json_response(
                {"Code": 799, "Message": "OAID is not active or wrong", "Data_callback": []}
            )
        asked = body.get("ListRefid")
        if not isinstance(asked, list):
            return web.json_response({"Code": 110, "Message": "ListRefid is invalid"})
        found = []
        for smsid in asked[:ASKED_AT_MOST]:
            report = self.reporter.known(smsid) if isinstance(smsid, str) else None
            if report is not None:
                found.append(report.record())
        return web.json_response({"Code": 100, "Message": "Success", "Data_callback": found})
