"""Result files read back as they are: pandas and DuckDB with exact types, any format."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

import batch_sender
from batch_sender.cli import cli
from batch_sender.results.rows import RESULT_COLUMNS
from batch_sender.simulator.config import SimulatorConfig

from .conftest import CREDENTIALS, LONG_ID, RunningSimulator, simulator_running, write_csv

HEADER = ["user_id", "text", "url", "phone", "voucher"]
ROWS = [
    [LONG_ID, "Chào chị Lan", "https://x.vn/a.jpg", "0981924865", "007"],
    ["18446744073709551617", "Chào anh Minh", "https://x.vn/b.jpg", "0912000111", ""],
    ["12ab", "Chào bạn", "https://x.vn/c.jpg", "0900000000", "1e5"],
]
TEXT_COLUMNS = [*HEADER, "status", "RequestId", "SMSID", "CodeResult", "ErrorMessage"]


def send(esms: RunningSimulator, output: str, *more: str) -> None:
    path = write_csv(Path("c.csv"), ROWS, header=HEADER)
    result = CliRunner().invoke(cli, ["send", str(path), "-o", output, *more, *esms.args])
    assert result.exit_code == 1, result.output  # the invalid row needs attention


@pytest.mark.parametrize("output", ["r.csv", "r.xlsx"])
def test_read_results_keeps_ids_codes_and_the_users_columns_as_written(
    esms: RunningSimulator, output: str
) -> None:
    send(esms, output)

    results = batch_sender.read_results(output)

    assert list(results.columns) == [*HEADER, *RESULT_COLUMNS]
    for name in [*TEXT_COLUMNS, "delivery", "delivery_error", "delivered_at"]:
        assert results[name].dtype == pd.StringDtype(), name
    assert (results["row"].dtype, results["attempts"].dtype) == (pd.Int64Dtype(), pd.Int64Dtype())
    assert results["user_id"].tolist() == [r[0] for r in ROWS]  # not uint64, not rounded
    assert results["phone"].tolist() == ["0981924865", "0912000111", "0900000000"]
    assert results["voucher"].tolist() == ["007", "", "1e5"]  # no NaN, no 100000.0
    assert results["CodeResult"].tolist() == ["100", "100", ""]  # not 100.0 beside a NaN
    assert results["row"].tolist() == [2, 3, 4]
    assert results["attempts"].tolist() == [1, 1, 0]
    assert results["status"].tolist() == ["accepted", "accepted", "invalid"]


def test_the_duckdb_recipe_loads_ids_as_text(esms: RunningSimulator) -> None:
    send(esms, "r.csv")

    recipe = """
        SELECT * REPLACE (CAST("row" AS INTEGER) AS "row", CAST(attempts AS INTEGER) AS attempts)
        FROM read_csv('r.csv', all_varchar = true)
    """
    with duckdb.connect() as db:
        relation = db.sql(recipe)
        columns = relation.columns
        types = dict(zip(columns, map(str, relation.types), strict=True))
        rows = relation.fetchall()

    assert {types[name] for name in TEXT_COLUMNS} == {"VARCHAR"}
    assert (types["row"], types["attempts"]) == ("INTEGER", "INTEGER")
    first = dict(zip(columns, rows[0], strict=True))
    assert (first["user_id"], first["phone"], first["CodeResult"]) == (LONG_ID, "0981924865", "100")
    assert [r[columns.index("row")] for r in rows] == [2, 3, 4]
    assert rows[2][columns.index("CodeResult")] is None  # an empty cell is NULL there


def test_report_and_status_work_on_an_xlsx_result_file() -> None:
    with simulator_running(SimulatorConfig(seed=3)) as esms:
        # Reports go nowhere (nobody listens on port 9): only the look-up can tell.
        send(esms, "r.xlsx", "--callback-url", "http://127.0.0.1:9/cb")
        deadline = time.monotonic() + 20
        while len(esms.call(lambda: dict(esms.simulator.reports))) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        status = CliRunner().invoke(
            cli, ["status", "r.xlsx", "--status-base-url", esms.url, *CREDENTIALS]
        )
        report = CliRunner().invoke(cli, ["report", "r.xlsx"])

    assert status.exit_code == 0, status.output
    assert "eSMS knew 2 of the 2 asked" in status.stdout
    assert report.exit_code == 0, report.output
    out = " ".join(report.stdout.split())
    assert "accepted by eSMS 2 " in out and "delivered 2 " in out
    results = batch_sender.read_results("r.xlsx")
    assert results["delivery"].tolist() == ["delivered", "delivered", ""]
    assert results["phone"].tolist() == ["0981924865", "0912000111", "0900000000"]
    sheet = openpyxl.load_workbook("r.xlsx", read_only=True).active
    assert sheet is not None
    # Still numbers where they were numbers, text where text.
    second = next(sheet.iter_rows(min_row=2, max_row=2, values_only=True))
    assert (second[0], second[5], second[-4]) == (LONG_ID, 2, 1)


def test_callbacks_fill_an_xlsx_result_file(tmp_path: Path) -> None:
    receiver = subprocess.Popen(
        [
            *(sys.executable, "-m", "batch_sender", "callbacks", "r.xlsx", "--port", "0"),
            *("--token", "t0ken-for-tests", "--every", "0.5", "--campaign-id", "c"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stderr is not None
        line = receiver.stderr.readline()
        assert line.startswith("receiving eSMS callbacks at "), line + receiver.stderr.read()
        url = line.rsplit(" ", 1)[-1].strip()
        with simulator_running(SimulatorConfig(seed=4, callback_delay=0.1)) as esms:
            send(esms, "r.xlsx", "--callback-url", url)
            deadline = time.monotonic() + 20
            while len(esms.call(lambda: dict(esms.simulator.reports))) < 2 or esms.call(
                lambda: len(esms.simulator.tasks)
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        receiver.send_signal(signal.SIGTERM)
        out, err = receiver.communicate(timeout=20)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    assert receiver.returncode == 0, err
    assert "callbacks stopped: 2 reports" in out
    assert batch_sender.read_results("r.xlsx")["delivery"].tolist() == ["delivered"] * 2 + [""]


@pytest.mark.parametrize("output", ["r.xlsx", "r.csv"])
def test_read_results_gives_our_cells_as_written_before_excel_mode_guarded_them(
    output: str,
) -> None:
    """A `'` before `-114 ...` keeps Excel from a formula; read back, the value has none."""
    more = () if output.endswith(".xlsx") else ("--excel",)
    with simulator_running(SimulatorConfig(seed=3, zalo_fail=1.0)) as esms:
        send(esms, output, "--callback-url", "http://127.0.0.1:9/cb", *more)
        deadline = time.monotonic() + 20
        while len(esms.call(lambda: dict(esms.simulator.reports))) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = CliRunner().invoke(
            cli, ["status", output, "--status-base-url", esms.url, *CREDENTIALS]
        )
    assert status.exit_code == 0, status.output
    results = batch_sender.read_results(output)
    errors = results["delivery_error"].tolist()
    assert [e.startswith("-114 ") for e in errors] == [True, True, False], errors
    assert results["delivery"].tolist() == ["failed", "failed", ""]
    if output.endswith(".csv"):
        assert "'-114 " in Path(output).read_text(encoding="utf-8-sig")  # still inert in Excel
