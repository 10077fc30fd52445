"""Promises under abuse: no secret in any output, no plain-http keys, no bad -o, big inputs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batch_sender.cli import cli
from batch_sender.errors import UsageError
from batch_sender.results.rows import RESULT_COLUMNS
from batch_sender.settings import check_base_url
from batch_sender.simulator.config import Faults, SimulatorConfig

from .conftest import message_rows, read_results, start_simulator, write_csv

API_KEY = "ak-7f3Kq9ZzSECRETAPIKEY"
SECRET_KEY = "sk-Qx81mmSECRETSECRETKEY"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_secrets_appear_in_no_output_file_or_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [*message_rows(30), ["bad", "", "nope"]])
    faults = Faults(http_500=0.2, drop=0.1, truncated=0.1)
    config = SimulatorConfig(api_key=API_KEY, secret_key=SECRET_KEY, oaid="42", faults=faults)
    outputs: list[str] = []
    codes: list[int] = []
    for esms in start_simulator(config):
        keys = ["--api-key", API_KEY, "--secret-key", SECRET_KEY, "--oaid", "42"]
        base = [
            *("--base-url", esms.url, "--backoff", "0.01", "--max-attempts", "2"),
            *("--rate", "0"),
        ]
        for args in (
            ["send", str(path), "-o", "r.csv", *keys, *base],  # faults, some rows failed
            ["send", str(path), "-o", "r.csv", *keys, *base],  # the rerun
            [
                *("send", str(path), "-o", "w.csv", *keys[:2], "--secret-key", "x", "--oaid", "4"),
                *base,
            ],
            # eSMS unreachable (nothing listens there), without sitting through real backoff.
            [
                "send",
                str(path),
                "-o",
                "u.csv",
                *keys,
                "--base-url",
                "http://127.0.0.1:9",
                *base[2:],
            ],
        ):
            result = run(*args)
            codes.append(result.exit_code)
            outputs += [result.stdout, result.stderr, repr(result.exception or "")]
    # the bad row needs attention in both sends; wrong keys and no eSMS stop the run
    assert codes == [1, 1, 3, 3], outputs
    files = [p for p in Path().iterdir() if p.is_file()]
    assert any(p.name.endswith(".journal.sqlite") for p in files)
    for p in files:
        outputs.append(p.read_bytes().decode("utf-8", errors="replace"))
    for p in Path().glob("*.journal.sqlite"):
        with sqlite3.connect(p) as db:
            outputs.append(repr(db.execute("SELECT * FROM messages").fetchall()))
            outputs.append(repr(db.execute("SELECT * FROM meta").fetchall()))
    text = "\n".join(outputs)
    assert "accepted" in text  # the outputs are really there
    assert API_KEY not in text
    assert SECRET_KEY not in text


@pytest.mark.parametrize(
    "url",
    ["http://rest.esms.vn", "http://10.0.0.5:8900", "http://[2001:db8::1]/"],
)
def test_plain_http_to_another_host_is_refused(tmp_path: Path, url: str) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    keys = ["--api-key", "a", "--secret-key", "b", "--oaid", "c"]
    result = run("send", str(path), "-o", "r.csv", "--base-url", url, *keys)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --base-url {url} is plain http: the ApiKey and SecretKey would cross the "
        "network in clear; use https://, or pass --allow-insecure-http\n"
    )
    assert not Path("r.csv").exists()


def test_plain_http_to_loopback_goes_ahead(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    keys = ["--api-key", "a", "--secret-key", "b", "--oaid", "c", "--max-attempts", "1"]
    result = run("send", str(path), "-o", "r.csv", *keys, "--base-url", "http://localhost:9")
    assert result.exit_code == 3  # it went on to try: nobody listens there
    assert "cannot reach eSMS at http://localhost:9" in result.stderr


def test_the_flag_allows_plain_http_elsewhere() -> None:
    # Checked without a request: tests talk to 127.0.0.1 only.
    check_base_url("http://10.0.0.5:8900", allow_insecure_http=True)
    with pytest.raises(UsageError, match="must be an http:// or https:// URL"):
        check_base_url("ftp://rest.esms.vn", allow_insecure_http=True)


def test_output_in_a_missing_or_unwritable_place_exits_2_first(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", message_rows(2))
    Path("afile").write_text("x", encoding="utf-8")
    Path("locked").mkdir()
    Path("locked").chmod(0o500)
    cases = {
        "afile/r.csv": "Error: afile/r.csv: the folder afile is not a folder\n",
        "nowhere/r.csv": "Error: nowhere/r.csv: the folder nowhere does not exist\n",
        "r.json": "Error: r.json: the output must be a .csv or .xlsx file\n",
    }
    if os.geteuid() != 0:  # root writes anywhere
        cases["locked/r.csv"] = "Error: locked/r.csv: cannot write in the folder locked\n"
    for output, message in cases.items():
        result = run("send", str(path), "-o", output, "--simulate")
        assert result.exit_code == 2, output
        assert result.stderr == message
    assert read_results(path)[0]["user_id"] == message_rows(1)[0][0]  # input untouched


def test_a_cell_over_a_megabyte_is_an_invalid_row_not_a_crash(tmp_path: Path) -> None:
    rows = message_rows(2)
    rows[1][1] = "á" * 1_200_000
    path = write_csv(tmp_path / "c.csv", rows)
    result = run("validate", str(path), "-o", "report.csv")
    assert result.exit_code == 1
    assert "line 3: invalid: text has 1,200,000 characters, at most 2,000 are allowed" in (
        result.stdout
    )
    report = read_results(Path("report.csv"))
    assert len(report[1]["text"]) == 1_200_000  # carried through untouched


def test_ten_thousand_columns(tmp_path: Path) -> None:
    header = ["user_id", "text", "url", *(f"c{i}" for i in range(10_000))]
    rows = [[*row, *("x" * 10_000)] for row in message_rows(3)]
    path = write_csv(tmp_path / "c.csv", rows, header=header)
    result = run("validate", str(path), "-o", "report.csv")
    assert result.exit_code == 0, result.output
    assert len(read_results(Path("report.csv"))[0]) == 10_003 + len(RESULT_COLUMNS)


def test_a_huge_line_without_a_line_break_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    with path.open("wb") as f:
        f.write(b"user_id,text,url\n")
        f.write(b"1," + b"x" * (100 * 1024 * 1024))  # 100 MB, no line break, no url
    result = run("validate", str(path))
    assert result.exit_code == 1  # one row, invalid: text too long, no url
    assert "line 2: invalid: text has 104,857,600 characters" in result.stdout
