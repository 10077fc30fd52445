"""eSMS's own samples (tests/fixtures/esms, copied verbatim from its pages) against the project.

Two promises: the client reads every sample as eSMS sends it, and the
simulator answers in the samples' shapes (field names, casing, JSON types),
so that a test passing against the simulator says something about eSMS.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aioresponses import aioresponses
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.delivery.receiver import Receiver
from batch_sender.delivery.server import receiver_app
from batch_sender.errors import AccountError
from batch_sender.esms import protocol as esms
from batch_sender.esms.delivery_report import from_report, parse_error_info
from batch_sender.journal.records import ACCEPTED, Outcome
from batch_sender.journal.store import Journal
from batch_sender.results.rows import RESULT_COLUMNS
from batch_sender.sending.account import account_balance
from batch_sender.simulator.accounts import SIMULATOR_API_KEY, SIMULATOR_OAID, SIMULATOR_SECRET_KEY
from batch_sender.simulator.config import SimulatorConfig
from batch_sender.simulator.reports import encode_error_info
from batch_sender.simulator.server import Simulator

from .conftest import HEADER, LONG_ID, read_results, write_csv

FIXTURES = Path(__file__).parent / "fixtures" / "esms"
CALLBACKS = FIXTURES / "callbacks"
INACTIVE = (
    "-114 User is inactive, or reject the message, or using an outdated Zalo version, "
    "or other internal errors"
)


def sample(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def callback_query(name: str) -> str:
    """The query string of a callback sample, as it would reach the receiver."""
    url = (CALLBACKS / f"{name}.url").read_text(encoding="utf-8").strip()
    return url.split("?", 1)[1]


def raw_params(query: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in query.split("&")]  # type: ignore[misc]


def shape(value: Any) -> Any:
    """A JSON value's shape: keys and JSON types, recursively (string "100" is not 100)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = [shape(item) for item in value]
        assert all(s == shapes[0] for s in shapes), f"mixed shapes in a list: {shapes}"
        return shapes[:1]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    assert value is None, value
    return "null"


def assert_same_shape(answer: Any, fixture: str) -> None:
    assert shape(answer) == shape(sample(fixture)), f"not the shape of {fixture}"


def test_the_shape_comparer_tells_string_from_number_and_missing_keys() -> None:
    assert shape({"CodeResult": "100"}) != shape({"CodeResult": 100})
    assert shape({"a": {"b": [1, 2]}}) == shape({"a": {"b": [3]}})
    assert shape({"a": 1}) != shape({"a": 1, "b": 1})
    assert shape({"a": [{"x": "1"}]}) != shape({"a": [{"x": None}]})


def test_every_fixture_is_the_json_or_url_its_page_shows() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) == 18
    for name in names:
        sample(name)
    urls = sorted(CALLBACKS.glob("*.url"))
    assert len(urls) == 9
    for path in urls:
        assert path.read_text(encoding="utf-8").startswith("https://{{yourportalreceivecallback}}?")


# --- the client reads every sample -------------------------------------------------


def test_send_answers_read_as_the_page_shows_them() -> None:
    accepted = esms.Answer.from_json(sample("send-100.json"))
    assert (accepted.verdict, accepted.smsid) == (
        esms.Verdict.ACCEPTED,
        "d8e0f1f0702544b2acb456ca9ccfd111250",
    )
    refused = esms.Answer.from_json(sample("send-101.json"))
    assert (refused.verdict, refused.message) == (esms.Verdict.ACCOUNT, "Authorize Failed")


def test_our_request_bodies_have_the_pages_fields_and_types() -> None:
    credentials = esms.Credentials("k", "s", "4097311281936189049")
    message = esms.Message(2, "96accf59-0c41-4bc7-a5c4-4a466c2e41c2", LONG_ID, "Chào", "https://x")
    assert_same_shape(esms.send_body(credentials, message, esms.SendOptions()), "send-request.json")
    assert_same_shape(esms.balance_body(credentials), "balance-request.json")
    assert_same_shape(esms.balance_body(credentials), "getlistzoa-request.json")
    assert_same_shape(esms.get_callback_body(credentials, ["a", "b"]), "getcallback-request.json")


@pytest.mark.parametrize(
    ("fixture", "expected"), [("balance-100.json", "36693"), ("balance-101.json", "101")]
)
async def test_balance_answers_read_as_the_page_shows_them(fixture: str, expected: str) -> None:
    with aioresponses() as mocked:
        mocked.post("https://esms.test" + esms.BALANCE_PATH, body=(FIXTURES / fixture).read_text())
        try:
            got = await account_balance("https://esms.test", "k", "s", 5)
        except AccountError as exc:
            got = exc.code
    assert got == expected


@pytest.mark.parametrize("name", sorted(p.stem for p in CALLBACKS.glob("*.url")))
def test_every_callback_sample_is_a_report(name: str) -> None:
    params = dict(urllib.parse.parse_qsl(callback_query(name), keep_blank_values=True))
    delivery = from_report(params)
    assert delivery.smsid == params["SMSID"] and delivery.request_id == ""
    if params["SendSuccess"] != "0":
        expected = "delivered"
    elif params["SendFailed"] != "0":
        expected = "failed"
    else:  # "finished" with neither counted (the advertising sample): no outcome yet
        expected = "pending"
    assert delivery.delivery == expected


@pytest.mark.parametrize(
    ("raw", "expected", "at"),
    [
        # GetCallback's ErrorInfo: Zalo's JSON, then eSMS's own text stuck to it.
        (
            sample("getcallback-100.json")["Data_callback"][0]["ErrorInfo"],
            "-124 Access token is invalid",
            None,
        ),
        # The "Zalo" callback sample once decoded: a JSON string literal.
        (
            '"{\\"error\\":-114,\\"message\\":\\"User is inactive, or reject the message, or '
            'using an outdated Zalo version, or other internal errors\\"}"',
            INACTIVE,
            None,
        ),
        # Encoded twice (the "Zalo tư vấn" way), with the tail; raw and once decoded.
        (
            encode_error_info(
                "follower", '{"error":-114,"message":"User is inactive"}____24/04/2024 16:58:01'
            ),
            "-114 User is inactive",
            "2024-04-24T16:58:01+07:00",
        ),
        (
            urllib.parse.unquote(
                encode_error_info(
                    "follower", '{"error":-201,"message":"x y"}____01/12/2026 08:00:00'
                )
            ),
            "-201 x y",
            "2026-12-01T08:00:00+07:00",
        ),
        # A string literal that carries the tail inside it.
        (
            '"{\\"error\\":-114,\\"message\\":\\"m\\"}____24/04/2024 16:58:01"',
            "-114 m",
            "2024-04-24T16:58:01+07:00",
        ),
        ("", "", None),
        ("not json", "not json", None),
    ],
)
def test_error_info_however_it_comes(raw: str, expected: str, at: str | None) -> None:
    error, when = parse_error_info(raw)
    assert error == expected
    assert (when.isoformat() if when else None) == at


# --- callbacks as the pages show them, through the receiver ----------------------


@pytest.mark.parametrize(
    ("name", "delivery", "error", "at"),
    [
        ("zalo", "failed", INACTIVE, None),
        ("zalo-tu-van", "delivered", "", "2024-04-24T16:58:01+07:00"),
        ("zalo-giao-dich", "delivered", "", "2024-04-24T17:07:01+07:00"),
        ("zalo-uid", "delivered", "", None),
        ("cskh", "failed", "", None),
    ],
)
async def test_the_pages_callbacks_reach_the_row_by_smsid(
    tmp_path: Path, name: str, delivery: str, error: str, at: str | None
) -> None:
    query = callback_query(name)
    smsid = dict(raw_params(query))["SMSID"]
    journal = Journal.open(tmp_path / "r.csv.journal.sqlite", "c", sending=True)
    journal.record("rid-1", 2, Outcome(ACCEPTED, "100", smsid, ""))
    journal.commit()
    receiver = Receiver(tmp_path / "r.csv", journal, print)
    client = TestClient(TestServer(receiver_app(receiver, "/esms/callback")))
    await client.start_server()
    try:
        answer = await client.get("/esms/callback?" + query)
        assert answer.status == 200
        got = journal.deliveries.reported(["rid-1"])["rid-1"]
    finally:
        await client.close()
        journal.close()
    assert got[:2] == (delivery, error)
    if at is not None:
        assert got[2] == at


def test_the_simulators_error_info_is_encoded_as_the_samples() -> None:
    for style, name in (("follower", "zalo-tu-van"), ("zns", "zalo"), ("uid", "zalo-uid")):
        encoded = dict(raw_params(callback_query(name)))["error_info"]
        once = urllib.parse.unquote(encoded)
        text = {
            "follower": urllib.parse.unquote(once),
            "zns": json.loads(once) if style == "zns" else once,
            "uid": once,
        }[style]
        assert encode_error_info(style, text) == encoded, style


# --- the simulator answers in the samples' shapes --------------------------------


def good_send(request_id: str, **extra: str) -> dict[str, Any]:
    credentials = esms.Credentials(SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY, SIMULATOR_OAID)
    message = esms.Message(2, request_id, LONG_ID, "Chào", "https://cdn.example.vn/a.jpg")
    return {**esms.send_body(credentials, message, esms.SendOptions()), **extra}


KEYS = {"ApiKey": SIMULATOR_API_KEY, "SecretKey": SIMULATOR_SECRET_KEY}
WRONG = {"ApiKey": "wrong", "SecretKey": "wrong"}


async def test_the_simulator_answers_in_the_samples_shapes() -> None:
    styles = ("follower", "zns", "uid")
    simulator = Simulator(SimulatorConfig(seed=3, zalo_fail=0.5, callback_styles=styles))
    client = TestClient(TestServer(simulator.app()))
    await client.start_server()

    async def post(path: str, body: dict[str, Any]) -> Any:
        # The send page posts its JSON as text/plain: the simulator reads either.
        answer = await client.post(
            path, data=json.dumps(body), headers={"Content-Type": "text/plain"}
        )
        assert answer.status == 200
        return await answer.json()

    try:
        assert_same_shape(await post(esms.SEND_PATH, good_send("r0")), "send-100.json")
        assert_same_shape(await post(esms.SEND_PATH, {**good_send("r1"), **WRONG}), "send-101.json")
        assert_same_shape(await post(esms.BALANCE_PATH, KEYS), "balance-100.json")
        assert_same_shape(await post(esms.BALANCE_PATH, WRONG), "balance-101.json")
        assert_same_shape(await post(esms.LIST_OA_PATH, KEYS), "getlistzoa-100.json")
        assert_same_shape(await post(esms.LIST_OA_PATH, WRONG), "getlistzoa-101.json")

        nowhere = "http://127.0.0.1:9/esms/callback"
        smsids = []
        for i in range(8):
            answer = await post(esms.SEND_PATH, good_send(f"c{i}", CallbackUrl=nowhere))
            smsids.append(answer["SMSID"])
        while len(simulator.reports) < 8:
            await asyncio.sleep(0.01)
        body = {**KEYS, "ListRefid": smsids, "OAId": SIMULATOR_OAID}
        found = await post(esms.GET_CALLBACK_PATH, body)
        assert_same_shape(found, "getcallback-100.json")
        records = found["Data_callback"]
        assert sorted(r["SMSID"] for r in records) == sorted(smsids)
        outcomes = {from_report(r).error for r in records}
        assert outcomes == {"", "-114 " + INACTIVE[5:]}  # both kinds, decoded from ErrorInfo

        # The callback GETs: the parameter names, in order, of the page's sample of each style.
        samples = {"follower": "zalo-tu-van", "zns": "zalo", "uid": "zalo-uid"}
        for report in simulator.reports.values():
            ours = [k for k, _ in raw_params(report.query())]
            theirs = [k for k, _ in raw_params(callback_query(samples[report.style]))]
            assert ours == theirs, report.style
            params = dict(urllib.parse.parse_qsl(report.query(), keep_blank_values=True))
            assert params["RequestId"] == ""
            delivery = from_report(params)
            assert delivery.error == (INACTIVE if report.failed else "")
        assert {r.style for r in simulator.reports.values()} == set(styles)
    finally:
        await client.close()


# --- status on the page's own sample ----------------------------------------------


def test_status_reads_the_pages_own_get_callback_sample(tmp_path: Path) -> None:
    """Before: no keys, RequestIds asked, Data/data read, Code ignored: 'reports: nothing new'."""
    record = sample("getcallback-100.json")["Data_callback"][0]
    results = tmp_path / "r.csv"
    row = {"row": "2", "status": "accepted", "RequestId": "rid-1", "SMSID": record["SMSID"]}
    write_csv(
        results,
        [[LONG_ID, "Chào", "https://x/a.jpg", *(row.get(c, "") for c in RESULT_COLUMNS)]],
        header=[*HEADER, *RESULT_COLUMNS],
    )
    journal = Journal.open(tmp_path / "r.csv.journal.sqlite", "c", sending=True)
    journal.record("rid-1", 2, Outcome(ACCEPTED, "100", record["SMSID"], ""))
    journal.record("rid-2", 3, Outcome(ACCEPTED, "124", "", ""))  # accepted through 124
    journal.close()
    url = "https://status.esms.test" + esms.GET_CALLBACK_PATH
    with aioresponses() as mocked:
        mocked.post(url, body=(FIXTURES / "getcallback-100.json").read_text())
        result = CliRunner().invoke(
            cli,
            [
                *("status", str(results), "--status-base-url", "https://status.esms.test"),
                *("--api-key", "the-key", "--secret-key", "the-secret", "--oaid", record["OAId"]),
            ],
        )
        assert result.exit_code == 0, result.output
        (call,) = [c for calls in mocked.requests.values() for c in calls]
    assert call.kwargs["json"] == {
        "ApiKey": "the-key",
        "SecretKey": "the-secret",
        "ListRefid": [record["SMSID"]],
        "OAId": record["OAId"],
    }
    assert "reports: 1 failed" in result.stdout
    assert "1 accepted rows have no SMSID" in result.stderr
    journal = Journal(tmp_path / "r.csv.journal.sqlite")
    assert journal.deliveries.reported(["rid-1"])["rid-1"][:2] == (
        "failed",
        "-124 Access token is invalid",
    )
    journal.close()
    (row_after,) = read_results(results)
    assert (row_after["delivery"], row_after["delivery_error"]) == (
        "failed",
        "-124 Access token is invalid",
    )


async def test_get_callback_before_the_verdict_is_pending_in_the_samples_shape() -> None:
    simulator = Simulator(SimulatorConfig(seed=4, callback_delay=60))
    client = TestClient(TestServer(simulator.app()))
    await client.start_server()
    try:
        sent = await client.post(
            esms.SEND_PATH, json=good_send("w0", CallbackUrl="http://127.0.0.1:9/cb")
        )
        smsid = (await sent.json())["SMSID"]
        body = {**KEYS, "ListRefid": [smsid, "unknown"], "OAId": SIMULATOR_OAID}
        found = await (await client.post(esms.GET_CALLBACK_PATH, json=body)).json()
    finally:
        await client.close()
    assert_same_shape(found, "getcallback-100.json")
    (record,) = found["Data_callback"]
    assert record["SendStatus"] == 2
    assert from_report(record).delivery == "pending"


# --- every spelling of the pages, and a real third-party client ------------------

# The pages spell the base both ways (the "giao dịch" and "văn bản" send pages
# write mainservice.svc), with and without the trailing slash between pages.
BASES = ("/MainService.svc", "/mainservice.svc")
ENDPOINTS = [
    # (path after the base, the body that gets an answer, answer fixture, wrong-keys fixture)
    ("/json/SendZaloFollowerMessage_V5_post_json/", "send", "send-100.json", "send-101.json"),
    ("/json/GetBalance_json", "keys", "balance-100.json", "balance-101.json"),
    ("/json/ZNS/GetListZOA/", "keys", "getlistzoa-100.json", "getlistzoa-101.json"),
    ("/json/QueryListUID/", "uid", "querylistuid-100.json", "querylistuid-101.json"),
]


def spellings(path: str) -> list[str]:
    bare = path.rstrip("/")
    return [base + tail for base in BASES for tail in (bare, bare + "/")]


async def test_the_simulator_answers_every_endpoint_at_every_spelling_of_the_pages() -> None:
    simulator = Simulator(SimulatorConfig(seed=5))
    client = TestClient(TestServer(simulator.app()))
    await client.start_server()
    uid_query = {
        **sample("querylistuid-request.json"),
        **KEYS,
        "OAID": SIMULATOR_OAID,
        # The synthetic OA's users interacted in November 2026.
        "FromDate": "01/11/2026",
        "ToDate": "30/11/2026",
    }

    def body_of(kind: str, n: int) -> dict[str, Any]:
        bodies = {"keys": KEYS, "uid": uid_query, "send": good_send(f"spelling-{n}")}
        return dict(bodies[kind])

    asked = 0
    try:
        for tail, kind, right, wrong in ENDPOINTS:
            for path in spellings(tail):
                asked += 1
                answer = await client.post(path, json=body_of(kind, asked))
                assert answer.status == 200, path
                assert_same_shape(await answer.json(), right)
                refused = await client.post(path, json={**body_of(kind, asked), **WRONG})
                assert_same_shape(await refused.json(), wrong)
        sent = await client.post(
            esms.SEND_PATH, json=good_send("cb", CallbackUrl="http://127.0.0.1:9/cb")
        )
        smsid = (await sent.json())["SMSID"]
        for path in (esms.GET_CALLBACK_PATH, esms.GET_CALLBACK_PATH + "/"):
            asking = {**KEYS, "ListRefid": [smsid], "OAId": SIMULATOR_OAID}
            found = await (await client.post(path, json=asking)).json()
            assert_same_shape(found, "getcallback-100.json")
    finally:
        await client.close()
    assert asked == 16


CLIENTS = FIXTURES / "clients"


def third_party_requests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.stem}: {request['name']}", request)
        for path in sorted(CLIENTS.glob("*.json"))
        for request in json.loads(path.read_text(encoding="utf-8"))["requests"]
    ]


def filled(value: Any, fields: dict[str, str]) -> Any:
    """The client's template with its credential fields put in."""
    if isinstance(value, dict):
        return {key: filled(item, fields) for key, item in value.items()}
    assert isinstance(value, str), value
    for name, field_value in fields.items():
        value = value.replace("{{" + name + "}}", field_value)
    assert "{{" not in value, value
    return value


@pytest.mark.parametrize(
    ("name", "request_shape"), third_party_requests(), ids=[n for n, _ in third_party_requests()]
)
@pytest.mark.parametrize("keys", ["right keys", "wrong keys"])
async def test_a_third_party_clients_requests_get_the_pages_answers(
    name: str, request_shape: dict[str, Any], keys: str
) -> None:
    import base64

    api_key, secret_key = (
        (SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY) if keys == "right keys" else ("wrong", "wrong")
    )
    simulator = Simulator(SimulatorConfig(seed=6))
    client = TestClient(TestServer(simulator.app()))
    await client.start_server()
    try:
        fields = {
            "esmsDomain": str(client.make_url("")).rstrip("/"),
            "esmsApiKey": api_key,
            "esmsSecretKey": secret_key,
            "basic": base64.b64encode(f"{api_key}:{secret_key}".encode()).decode(),
        }
        answer = await client.request(
            request_shape["method"],
            request_shape["path"],
            params=request_shape["query"],
            headers=filled(request_shape["headers"], fields),
            data=json.dumps(filled(request_shape["body"], fields)),
        )
        assert answer.status == 200, name
        assert_same_shape(await answer.json(), request_shape["answers"][keys])
    finally:
        await client.close()


def test_our_client_keeps_the_documented_paths_exactly() -> None:
    """Whatever spellings the simulator takes, ours stays the one the pages' samples post to."""
    assert esms.SEND_PATH == "/MainService.svc/json/SendZaloFollowerMessage_V5_post_json/"
    assert esms.BALANCE_PATH == "/MainService.svc/json/GetBalance_json"
    assert esms.LIST_OA_PATH == "/MainService.svc/json/ZNS/GetListZOA/"
    assert esms.QUERY_UID_PATH == "/MainService.svc/json/QueryListUID/"
    assert esms.GET_CALLBACK_PATH == "/ZaloCallback/GetCallback"
