"""`audience`: QueryListUID paged, split and deduplicated into a file `send` reads as it is."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from click.testing import CliRunner

from batch_sender.cli import cli
from batch_sender.errors import AccountError, UsageError
from batch_sender.esms import protocol as esms
from batch_sender.followers.query import AudienceConfig, AudienceQuery, fetch_audience
from batch_sender.simulator.accounts import DEMO
from batch_sender.simulator.audience import SyntheticOA
from batch_sender.simulator.config import SimulatorConfig

from .conftest import CREDENTIALS, RunningSimulator, read_results, simulator_running

SAMPLES = Path(__file__).parent / "fixtures" / "esms"


def sample(name: str) -> Any:
    """One of the page's own samples (ham-lay-danh-sach-zalo-followers-1.md)."""
    return json.loads((SAMPLES / f"querylistuid-{name}.json").read_text("utf-8"))


NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]


def shape(value: Any) -> Any:
    """The JSON's keys and types, not its values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url + esms.QUERY_UID_PATH, json=body) as response,
        ):
            assert response.status == 200
            data: dict[str, Any] = await response.json(content_type=None)
            return data

    return asyncio.run(go())


def page_request(**changes: Any) -> dict[str, Any]:
    body = dict(sample("request"))
    body.update(ApiKey=DEMO.api_key, SecretKey=DEMO.secret_key, OAID=DEMO.oaid)
    body.update(FromDate="01/11/2026", ToDate="30/11/2026")
    body.update(changes)
    return body


def read_ids(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["user_id"]
    return [row[0] for row in rows[1:]]


# --- the simulator, against the page ------------------------------------------------


def test_simulator_answers_query_list_uid_with_the_page_sample_shape() -> None:
    with simulator_running(SimulatorConfig(audience_size=120)) as esms_:
        answer = post(esms_.url, page_request())
        assert shape(answer) == shape(
            sample("100")
        )  # CodeResult a string, Count/Offset/Total numbers
        assert answer["Data"]["Total"] == 120 and len(answer["Data"]["Users"]) == 50
        last = post(esms_.url, page_request(Offset=100))["Data"]
        assert (last["Offset"], last["Count"], len(last["Users"])) == (100, 50, 20)
        # The page's table calls them strings: a string Offset/Count works too.
        assert post(esms_.url, page_request(Offset="50", Count="50"))["Data"]["Offset"] == 50


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ApiKey": "wrong"}, "101"),
        ({"FromDate": "2026-11-01"}, "161-fromdate"),
        ({"ToDate": "31/11/2026"}, "161-todate"),
        ({"Offset": 10_000}, "162-offset"),
        ({"Count": 51}, "162-count"),
        ({"Count": 0}, "162-count"),
    ],
)
def test_simulator_errors_are_the_pages(changes: dict[str, Any], expected: str) -> None:
    with simulator_running(SimulatorConfig(audience_size=10)) as esms_:
        assert post(esms_.url, page_request(**changes)) == sample(expected)


# --- the command, against the simulator ----------------------------------------------


def expected_ids(
    esms_: RunningSimulator, start: str, end: str, follower: str = "", tag: str = ""
) -> list[str]:
    config = esms_.simulator.config
    oa = SyntheticOA(
        config.audience_size,
        seed=config.seed or 0,
        end=config.audience_end,
        days=config.audience_days,
    )
    first = dt.date.fromisoformat(start).toordinal()
    last = dt.date.fromisoformat(end).toordinal()
    return oa.matching(first, last, follower, tag)


def test_25000_users_over_30_days_come_out_whole_each_once() -> None:
    with simulator_running(SimulatorConfig(audience_size=25_000, seed=3)) as esms_:
        result = CliRunner().invoke(
            cli,
            [
                "audience",
                "-o",
                "a.csv",
                *NOVEMBER,
                "--rate",
                "0",
                "--base-url",
                esms_.url,
                *CREDENTIALS,
            ],
        )
        queries = esms_.stats()["uid_queries"]
        wanted = expected_ids(esms_, "2026-11-01", "2026-11-30")
    assert result.exit_code == 0, result.output
    ids = read_ids(Path("a.csv"))
    assert len(wanted) == 25_000
    assert len(ids) == len(set(ids)) == 25_000
    assert set(ids) == set(wanted)
    assert all(len(i) in (18, 19) and i.isdigit() for i in ids)  # text, digits kept
    assert queries > 500  # a 30-day query holds 25,000 > 10,000: it had to be split
    assert "audience: 25,000 users who interacted 01/11/2026-30/11/2026" in result.output


def test_followers_with_a_tag_then_send_it_as_it_is() -> None:
    with simulator_running(SimulatorConfig(audience_size=3_000, seed=5)) as esms_:
        runner = CliRunner()
        listed = runner.invoke(
            cli,
            [
                "audience",
                "-o",
                "vip.csv",
                *NOVEMBER,
                "--followers-only",
                "--tag",
                "VIP",
                "--rate",
                "0",
                "--base-url",
                esms_.url,
                *CREDENTIALS,
            ],
        )
        assert listed.exit_code == 0, listed.output
        wanted = expected_ids(esms_, "2026-11-01", "2026-11-30", "1", "VIP")
        ids = read_ids(Path("vip.csv"))
        assert sorted(ids) == sorted(wanted) and len(ids) == len(set(ids)) > 100
        image = "https://cdn.example.vn/thang12.jpg"
        sent = runner.invoke(
            cli,
            [
                "send",
                "vip.csv",
                "-o",
                "r.csv",
                "--template",
                "Chào bạn, ưu đãi tháng 12!",
                "--image-url",
                image,
                "--rate",
                "0",
                "--base-url",
                esms_.url,
                *CREDENTIALS,
            ],
        )
        stats = esms_.stats()
        messages = list(esms_.simulator.accepted.values())
    assert sent.exit_code == 0, sent.output
    results = read_results(Path("r.csv"))
    assert [r["user_id"] for r in results] == ids
    assert {r["status"] for r in results} == {"accepted"}
    assert stats["accepted"] == len(ids)
    assert {m.url for m in messages} == {image}
    assert {m.text for m in messages} == {"Chào bạn, ưu đãi tháng 12!"}
    assert sorted(m.user_id for m in messages) == sorted(ids)


def test_one_day_over_10000_is_reported_not_silently_cut() -> None:
    # One day, 16,000 users, about 70% followers: the day split by follower state
    # lists the non-followers whole; the followers are over 10,000 and cannot be.
    config = SimulatorConfig(audience_size=16_000, audience_days=1, seed=2)
    with simulator_running(config) as esms_:
        result = CliRunner().invoke(
            cli,
            [
                "audience",
                "-o",
                "a.csv",
                "--from",
                "2026-11-30",
                "--to",
                "2026-11-30",
                "--rate",
                "0",
                "--base-url",
                esms_.url,
                *CREDENTIALS,
            ],
        )
        followers = expected_ids(esms_, "2026-11-30", "2026-11-30", "1")
        others = expected_ids(esms_, "2026-11-30", "2026-11-30", "0")
    assert result.exit_code == 1, result.output
    ids = read_ids(Path("a.csv"))
    assert len(ids) == len(set(ids)) == 10_000 + len(others)
    assert set(others) <= set(ids)
    missing = len(followers) - 10_000
    assert (
        f"Warning: 30/11/2026 has {len(followers):,} followers; eSMS lists at most 10,000 "
        f"per query, so {missing:,} of them are missing"
    ) in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--api-key", "wrong"], "101"),
        (["--oaid", "wrong"], "799"),
    ],
)
def test_account_errors_are_one_line_exit_3(args: list[str], fragment: str) -> None:
    with simulator_running(SimulatorConfig(audience_size=10)) as esms_:
        result = CliRunner().invoke(
            cli,
            ["audience", "-o", "a.csv", *NOVEMBER, "--base-url", esms_.url, *CREDENTIALS, *args],
        )
    assert result.exit_code == 3
    assert fragment in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not Path("a.csv").exists()


@pytest.mark.parametrize(
    "dates",
    [
        ["--from", "2026-13-01", "--to", "2026-11-30"],
        ["--from", "01/11/2026", "--to", "2026-11-30"],
        ["--from", "2026-11-30", "--to", "2026-11-01"],
    ],
)
def test_bad_dates_exit_2_before_asking(dates: list[str]) -> None:
    result = CliRunner().invoke(cli, ["audience", "-o", "a.csv", *dates, "--simulate"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and not Path("a.csv").exists()


def test_followers_only_and_non_followers_exclude_each_other() -> None:
    result = CliRunner().invoke(
        cli, ["audience", "-o", "a.csv", *NOVEMBER, "--followers-only", "--non-followers"]
    )
    assert result.exit_code == 2 and "not both" in result.output


def test_the_audience_file_is_a_suppression_list_as_it_is() -> None:
    runner = CliRunner()
    runner.invoke(cli, ["audience", "-o", "a.csv", *NOVEMBER, "--simulate", "-q", "--rate", "0"])
    ids = read_ids(Path("a.csv"))
    sheet = Path("c.csv")
    sheet.write_text(
        "user_id,text,url\n" + "".join(f"{i},Chào,https://x.vn/a.jpg\n" for i in ids[:5]),
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["validate", "c.csv", "--exclude", "a.csv"])
    assert "excluded x5" in result.output or "5 excluded" in result.output, result.output


# --- the library, against canned answers ---------------------------------------------

URL = "https://esms.test" + esms.QUERY_UID_PATH
CONFIG = AudienceConfig(
    base_url="https://esms.test",
    credentials=esms.Credentials("k", "s", "oa"),
    rate=0,
    backoff=0,
)
QUERY = AudienceQuery(dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def answer(total: int, users: list[str]) -> dict[str, Any]:
    return {
        "CodeResult": "100",
        "Data": {"Count": 50, "Offset": 0, "Total": total, "Users": users},
    }


async def no_sleep(_seconds: float) -> None:
    return None


def test_160_and_5xx_are_retried_and_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    with aioresponses() as mocked:
        mocked.post(URL, status=500)
        mocked.post(URL, payload={"CodeResult": "160", "ErrorMessage": "over limit"})
        mocked.post(URL, payload=answer(52, [str(10**18 + i) for i in range(50)]))
        mocked.post(URL, payload=answer(52, [str(10**18 + 50), str(10**18)]))
        result = asyncio.run(
            fetch_audience(
                CONFIG, QUERY, on_progress=lambda d, t: seen.append((d, t)), sleep=no_sleep
            )
        )
    assert len(result.user_ids) == 51  # the repeated id is kept once
    assert seen == [(50, 52), (51, 52)]


@pytest.mark.parametrize(
    ("code", "error"),
    [("161", UsageError), ("162", AccountError), ("101", AccountError), ("799", AccountError)],
)
def test_error_codes_raise_one_line_errors(code: str, error: type[Exception]) -> None:
    with aioresponses() as mocked:
        mocked.post(URL, payload={"CodeResult": code, "ErrorMessage": "nope"})
        with pytest.raises(error) as caught:
            asyncio.run(fetch_audience(CONFIG, QUERY, sleep=no_sleep))
    assert code in str(caught.value) and "\n" not in str(caught.value)


def test_total_as_a_string_is_read_too() -> None:
    with aioresponses() as mocked:
        mocked.post(
            URL,
            payload={
                "CodeResult": "100",
                "Data": {"Count": "50", "Offset": "0", "Total": "2", "Users": ["1", "2"]},
            },
        )
        result = asyncio.run(fetch_audience(CONFIG, QUERY, sleep=no_sleep))
    assert result.user_ids == ["1", "2"] and result.requests == 1


def test_account_settings_come_from_the_environment_and_dotenv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with simulator_running(SimulatorConfig(audience_size=60)) as esms_:
        Path(".env").write_text(
            f"ESMS_BASE_URL={esms_.url}\nESMS_SECRET_KEY={DEMO.secret_key}\n", "utf-8"
        )
        monkeypatch.setenv("ESMS_API_KEY", DEMO.api_key)
        monkeypatch.setenv("ESMS_OAID", DEMO.oaid)
        result = CliRunner().invoke(cli, ["audience", "-o", "a.csv", *NOVEMBER])
    assert result.exit_code == 0, result.output
    assert len(read_ids(Path("a.csv"))) == 60


def test_a_total_of_exactly_10000_is_split_in_case_eSMS_capped_it() -> None:
    # Two days of 6,000 users each; this eSMS never says more than 10,000.
    days = {"01/11/2026": 0, "02/11/2026": 1}
    people = [[str(10**18 + d * 10_000 + i) for i in range(6_000)] for d in range(2)]

    def answer_for(url: Any, **kwargs: Any) -> Any:
        from aioresponses import CallbackResult

        body = kwargs["json"]
        first, last = days[body["FromDate"]], days[body["ToDate"]]
        users = [u for d in range(first, last + 1) for u in people[d]]
        page = users[body["Offset"] : body["Offset"] + body["Count"]]
        return CallbackResult(payload=answer(min(len(users), 10_000), page))

    query = AudienceQuery(dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    with aioresponses() as mocked:
        mocked.post(URL, callback=answer_for, repeat=True)
        result = asyncio.run(fetch_audience(CONFIG, query, sleep=no_sleep))
    assert len(result.user_ids) == len(set(result.user_ids)) == 12_000
    assert not result.incomplete
