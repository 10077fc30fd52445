"""Property-based: any table of any Unicode cells gives one result row per input row,
values untouched, or a clean exit 2; never a traceback."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_sender.cli import cli
from batch_sender.results.rows import RESULT_COLUMNS

from .conftest import read_results

if TYPE_CHECKING:
    import pandas as pd

HEADER = ["user_id", "text", "url", "ghi_chu"]

cell = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(['"', ",", ";", "\t", "|", "\n", "\r\n", "\r", "\ufeff", " ", "7.8E+18"]),
    st.from_regex(r"[0-9]{1,22}", fullmatch=True),
    st.just("https://cdn.example.vn/a.jpg"),
)
any_row = st.lists(cell, min_size=4, max_size=4)
# Rows every rule accepts (any cell above rarely makes one): the property then
# covers the valid path too, not only rejections.
valid_row = st.builds(
    lambda uid, text, banner, note: [uid, text, f"https://cdn.example.vn/{banner}.jpg", note],
    st.from_regex(r"[1-9][0-9]{0,19}", fullmatch=True),
    st.text(st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1, max_size=30),
    st.integers(0, 3),
    cell,
)
tables = st.lists(
    st.one_of(any_row.map(lambda row: (False, row)), valid_row.map(lambda row: (True, row))),
    min_size=1,
    max_size=12,
)


def write_table(path: Path, rows: list[list[str]], delimiter: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        # CRLF terminator: the csv module then quotes cells that hold a lone \r.
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tagged=tables, delimiter=st.sampled_from([",", ";", "\t", "|"]))
def test_any_table_round_trips_or_fails_cleanly(
    tagged: list[tuple[bool, list[str]]], delimiter: str
) -> None:
    rows = [row for _, row in tagged]
    with tempfile.TemporaryDirectory() as tmp:
        source, report = Path(tmp) / "in.csv", Path(tmp) / "report.csv"
        write_table(source, rows, delimiter)
        result = CliRunner().invoke(cli, ["validate", str(source), "-o", str(report)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert result.exit_code in (0, 1, 2), result.output
        if result.exit_code == 2:
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
            assert not report.exists()
            return
        expected = [
            (line, row) for line, row in enumerate(rows, start=2) if any(c != "" for c in row)
        ]
        got = read_results(report)
        assert [int(r["row"]) for r in got] == [line for line, _ in expected]
        assert [[r[h] for h in HEADER] for r in got] == [row for _, row in expected]
        assert all(list(r)[-len(RESULT_COLUMNS) :] == RESULT_COLUMNS for r in got)
        statuses = dict(
            zip([line for line, _ in expected], [r["status"] for r in got], strict=True)
        )
        followers: set[str] = set()
        for line, (valid, row) in enumerate(tagged, start=2):
            if valid:  # a follower's first row to send is valid, a later one a duplicate
                wanted = "duplicate" if row[0] in followers else "valid"
                assert statuses[line] == wanted, (line, row)
            if statuses.get(line) in ("valid", "duplicate"):
                followers.add(row[0].strip())


def test_writer_output_reads_back_identically() -> None:
    # The result writer alone, on the cells most likely to break CSV.
    import pandas as pd

    from batch_sender.results.files import CsvWriter

    cells = ["a\rb", "c\nd", "e\r\nf", 'g"h', "i,j", " k ", "", "\ufeffl", "7800378501923859642"]
    frame = pd.DataFrame({"x": cells, "y": list(reversed(cells))})
    buffer = io.StringIO(newline="")
    CsvWriter(buffer).write(frame)
    back = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert back == [["x", "y"], *([a, b] for a, b in zip(cells, reversed(cells), strict=True))]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(cell, cell, st.integers(0, 10**19), cell), min_size=0, max_size=8))
def test_writer_writes_the_bytes_the_csv_module_writes(
    rows: list[tuple[str, str, int, str]],
) -> None:
    # The writer's join fast path must stay byte-identical to csv.writer.
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["a", "b", "n", "c"], dtype=object)
    _assert_written_as_the_csv_module_writes(frame)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab ,;ạ\x1f", max_size=6), min_size=1, max_size=8))
def test_a_column_whose_only_special_character_is_a_comma_is_written_as_the_csv_module_does(
    texts: list[str],
) -> None:
    # A campaign's texts hold commas and rarely a quote or a line break: their own fast path.
    import pandas as pd

    frame = pd.DataFrame({"text": texts, "sent_text": list(reversed(texts))}, dtype=object)
    _assert_written_as_the_csv_module_writes(frame)


def _assert_written_as_the_csv_module_writes(frame: pd.DataFrame) -> None:
    from batch_sender.results.files import CsvWriter

    fast = io.StringIO(newline="")
    CsvWriter(fast).write(frame)
    slow = io.StringIO(newline="")
    writer = csv.writer(slow, lineterminator="\r\n")
    writer.writerow(frame.columns)
    writer.writerows(frame.itertuples(index=False))
    assert fast.getvalue() == slow.getvalue()
