"""`extractor table` through the real CLI group."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from extractor.cli import cli

GOLD = Path(__file__).resolve().parents[3] / "shared" / "gold" / "dev.jsonl"
if not GOLD.exists():
    GOLD = Path(__file__).resolve().parents[2] / "shared" / "gold" / "dev.jsonl"


def res(
    value: float,
    bench: str | None,
    metric: str | None,
    model: str | None,
    delta: bool = False,
    unit: str | None = "%",
) -> dict[str, Any]:
    return {
        "value": value,
        "unit": unit,
        "delta": delta,
        "benchmark": bench,
        "metric": metric,
        "model": model,
        "evidence": f"{value} on {bench}",
    }


RECORDS: list[dict[str, Any]] = [
    {
        "id": "p1",
        "title": "TinyVLM",
        "abstract": "...",
        "extraction": {
            "models": [{"name": "TinyVLM", "role": "proposed", "size": None}],
            "results": [
                res(78.2, "MS-COCO", "acc", "TinyVLM"),
                res(2.5, "MS-COCO", "acc", "TinyVLM", delta=True),
                res(61.0, "VQAv2", "accuracy", None),  # TinyVLM's only with --attribute-proposed
            ],
            "code_links": [
                {"url": "https://tiny.example", "kind": "project_page"},
                {"url": "https://github.com/t/tiny", "kind": "code"},
            ],
        },
    },
    {
        "id": "p2",
        "title": "LLaVA | again",
        "abstract": "...",
        "extraction": {
            "models": [],
            "results": [
                res(80.1, "COCO", "accuracy", "LLaVA-1.5"),
                res(81.4, "COCO", "accuracy", "llava 1.5"),
                res(63.5, "VQA v2", "accuracy", "LLaVA-1.5"),
            ],
            "code_links": [{"url": "https://hf.co/llava", "kind": "model"}],
        },
    },
    {"id": "p3", "title": "COCO again", "extraction": {"results": [res(79.0, "COCO", "acc", "X")]}},
]


def write_jsonl(path: Path, records: list[Any], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def records_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "out.jsonl", RECORDS)


def table(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["table", *args], input=input, catch_exceptions=False)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_long_form_csv_is_the_default(records_file: Path) -> None:
    result = table(str(records_file))
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    assert list(rows[0]) == [
        "paper_id",
        "title",
        "model",
        "model_source",
        "benchmark",
        "metric",
        "value",
        "unit",
        "delta",
        "evidence",
        "code_url",
    ]
    assert [(r["paper_id"], r["benchmark"], r["metric"], r["value"], r["delta"]) for r in rows] == [
        ("p1", "COCO", "accuracy", "78.2", "false"),
        ("p1", "COCO", "accuracy", "2.5", "true"),
        ("p1", "VQAv2", "accuracy", "61", "false"),
        ("p2", "COCO", "accuracy", "80.1", "false"),
        ("p2", "COCO", "accuracy", "81.4", "false"),
        ("p2", "VQAv2", "accuracy", "63.5", "false"),
        ("p3", "COCO", "accuracy", "79", "false"),
    ]
    assert [r["model"] for r in rows[3:5]] == ["LLaVA-1.5", "LLaVA-1.5"]
    # The text names no model for 61: it stays unattributed, and the table says so.
    assert (rows[2]["model"], rows[2]["model_source"]) == ("", "")
    assert {r["model_source"] for r in rows[:2] + rows[3:]} == {"stated"}
    assert rows[0]["code_url"] == "https://github.com/t/tiny"  # a code link beats a page
    assert rows[3]["code_url"] == "https://hf.co/llava"
    assert rows[6]["code_url"] == ""
    assert result.stderr.splitlines() == [
        "note: 1 result(s) name no model and are shown unattributed; --attribute-proposed "
        "credits those of a paper with one proposed model to it"
    ]


def test_a_result_naming_no_model_is_never_credited_to_the_proposed_model_by_default(
    tmp_path: Path,
) -> None:
    # Grounding nulled "GPT-4" (say, not found as a model): 86.4 is not FooNet's.
    record = {
        "id": "p",
        "title": "FooNet",
        "extraction": {
            "models": [{"name": "FooNet", "role": "proposed", "size": None}],
            "results": [
                res(80.1, "MMLU", "accuracy", "FooNet"),
                res(86.4, "MMLU", "accuracy", None),
            ],
        },
    }
    path = write_jsonl(tmp_path / "out.jsonl", [record])
    rows = csv_rows(table(str(path), "--pivot").stdout)
    assert {r["model"]: r["MMLU / accuracy [%]"] for r in rows} == {
        "FooNet": "80.1",
        "(unattributed)": "86.4",
    }
    md = table(str(path), "--pivot", "--format", "md").stdout
    assert "| FooNet | 80.1 (p) |" in md and "| (unattributed) | 86.4 (p) |" in md
    assert [
        r["model"] for r in json.loads(table(str(path), "--pivot", "--format", "json").stdout)
    ] == [
        "FooNet",
        None,
    ]
    # Asked for, the guess is made, and every output says it is one.
    rows = csv_rows(table(str(path), "--pivot", "--attribute-proposed").stdout)
    assert rows == [
        {
            "model": "FooNet",
            "MMLU / accuracy [%]": "86.4",
            "MMLU / accuracy [%] paper": "p",
            "MMLU / accuracy [%] model_source": "proposed",
        }
    ]
    md = table(str(path), "--pivot", "--format", "md", "--attribute-proposed").stdout
    assert "| FooNet | 86.4 (p) \u2020 |" in md and "credited to the paper's only proposed" in md
    long = csv_rows(table(str(path), "--attribute-proposed").stdout)
    assert [(r["model"], r["model_source"]) for r in long] == [
        ("FooNet", "stated"),
        ("FooNet", "proposed"),
    ]


def test_pivot_csv_has_best_levels_with_their_papers(records_file: Path) -> None:
    result = table(str(records_file), "--pivot")
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    assert list(rows[0]) == [
        "model",
        "COCO / accuracy [%]",
        "COCO / accuracy [%] paper",
        "VQAv2 / accuracy [%]",
        "VQAv2 / accuracy [%] paper",
    ]
    by_model = {r["model"]: r for r in rows}
    assert list(by_model) == ["LLaVA-1.5", "TinyVLM", "X", "(unattributed)"]
    assert by_model["LLaVA-1.5"]["COCO / accuracy [%]"] == "81.4"
    assert by_model["LLaVA-1.5"]["COCO / accuracy [%] paper"] == "p2"
    assert by_model["TinyVLM"]["COCO / accuracy [%]"] == "78.2"  # the 2.5 delta is not a level
    assert by_model["TinyVLM"]["VQAv2 / accuracy [%]"] == ""  # 61 names no model
    assert by_model["(unattributed)"]["VQAv2 / accuracy [%]"] == "61"
    assert by_model["X"]["VQAv2 / accuracy [%]"] == ""


def test_pivot_markdown_and_json(records_file: Path) -> None:
    md = table(str(records_file), "--pivot", "--format", "md").stdout
    assert md.splitlines()[0] == "| model | COCO / accuracy [%] | VQAv2 / accuracy [%] |"
    assert "| LLaVA-1.5 | 81.4 (p2) | 63.5 (p2) |" in md
    data = json.loads(table(str(records_file), "--pivot", "--format", "json").stdout)
    llava = next(row for row in data if row["model"] == "LLaVA-1.5")
    assert llava["cells"]["COCO / accuracy [%]"] == {
        "benchmark": "COCO",
        "metric": "accuracy",
        "value": 81.4,
        "unit": "%",
        "lower_is_better": False,
        "paper_id": "p2",
        "model_source": "stated",
        "title": "LLaVA | again",
        "evidence": "81.4 on COCO",
    }


def test_long_markdown_escapes_pipes_and_json_keeps_types(records_file: Path) -> None:
    md = table(str(records_file), "--format", "md").stdout
    assert "LLaVA \\| again" in md
    unescaped_pipe = re.compile(r"(?<!\\)\|")
    assert {len(unescaped_pipe.split(line)) for line in md.splitlines()} == {13}  # 11 cells
    rows = json.loads(table(str(records_file), "--format", "json").stdout)
    assert rows[1] == {
        "paper_id": "p1",
        "title": "TinyVLM",
        "model": "TinyVLM",
        "model_source": "stated",
        "benchmark": "COCO",
        "metric": "accuracy",
        "value": 2.5,
        "unit": "%",
        "delta": True,
        "evidence": "2.5 on MS-COCO",
        "code_url": "https://github.com/t/tiny",
    }


def test_filters(records_file: Path) -> None:
    def values(*args: str) -> list[str]:
        return [r["value"] for r in csv_rows(table(str(records_file), *args).stdout)]

    assert values("--benchmark", "mscoco") == ["78.2", "2.5", "80.1", "81.4", "79"]
    assert values("--benchmark", "vqa-v2", "--benchmark", "nothing") == ["61", "63.5"]
    assert values("--metric", "ACC", "--no-delta", "--benchmark", "coco") == [
        "78.2",
        "80.1",
        "81.4",
        "79",
    ]
    assert values("--metric", "BLEU") == []


def test_show_merges_goes_to_stderr(records_file: Path) -> None:
    plain = table(str(records_file))
    result = table(str(records_file), "--show-merges")
    assert result.stdout == plain.stdout
    assert result.stderr.splitlines()[1:] == [
        "merged names:",
        "  benchmark: 'COCO' <- 'COCO' x3, 'MS-COCO' x2",
        "  benchmark: 'VQAv2' <- 'VQAv2' x1, 'VQA v2' x1",
        "  metric: 'accuracy' <- 'accuracy' x4, 'acc' x3",
        "  model: 'LLaVA-1.5' <- 'LLaVA-1.5' x2, 'llava 1.5' x1",
    ]


def test_output_file(records_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    result = table(str(records_file), "--format", "md", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("| paper_id | title |")


def test_parquet(records_file: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (extractor[parquet]) not installed")
    long_path, pivot_path = tmp_path / "long.parquet", tmp_path / "pivot.parquet"
    result = table(str(records_file), "--parquet", str(long_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # with --parquet, text goes only to -o
    long = pq.read_table(long_path)
    assert long.column_names[:3] == ["paper_id", "title", "model"]
    assert long.column("value").to_pylist()[:2] == [78.2, 2.5]
    assert long.column("delta").to_pylist()[:2] == [False, True]
    table(str(records_file), "--pivot", "--parquet", str(pivot_path))
    pivot = pq.read_table(pivot_path)
    assert pivot.schema == long.schema  # the pivot is the rows behind its cells
    cells = {(r["model"], r["benchmark"]): r["value"] for r in pivot.to_pylist()}
    assert cells == {
        ("LLaVA-1.5", "COCO"): 81.4,
        ("LLaVA-1.5", "VQAv2"): 63.5,
        ("TinyVLM", "COCO"): 78.2,
        ("X", "COCO"): 79.0,
        (None, "VQAv2"): 61.0,  # the "(unattributed)" row: no model
    }


def test_parquet_schema_never_depends_on_the_data(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (extractor[parquet]) not installed")
    import pyarrow as pa

    sparse = [{"id": "s", "extraction": {"results": [{"value": 1}]}}]  # every name null
    files = {
        "full": write_jsonl(tmp_path / "full.jsonl", RECORDS),
        "sparse": write_jsonl(tmp_path / "sparse.jsonl", sparse),
        "empty": write_jsonl(tmp_path / "empty.jsonl", []),
    }
    schemas = {}
    for name, path in files.items():
        for args in ((), ("--pivot",)):
            out = tmp_path / f"{name}{len(args)}.parquet"
            assert table(str(path), "--parquet", str(out), *args).exit_code == 0
            schemas[name, args] = pq.read_schema(out).remove_metadata()
    assert len(set(map(str, schemas.values()))) == 1
    schema = schemas["empty", ()]
    assert schema.field("value").type == pa.float64() and schema.field("delta").type == pa.bool_()
    assert schema.field("model").type == pa.string()  # all-null in two of the inputs
    assert pq.read_table(tmp_path / "sparse0.parquet").column("model").to_pylist() == [None]
    from extractor.pipeline.tables import results_schema, to_arrow

    assert to_arrow([], kind="results").schema == results_schema() == schema


def test_parquet_without_pyarrow_is_a_one_line_error(
    records_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = table(str(records_file), "--parquet", str(tmp_path / "t.parquet"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "needs pyarrow" in result.stderr
    assert not (tmp_path / "t.parquet").exists()


def test_missing_input_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = table(str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'nope.jsonl'}: no such file\n"
    assert table(str(tmp_path)).exit_code == 2


def test_tolerates_partial_and_older_files(tmp_path: Path) -> None:
    messy = [
        RECORDS[0],
        {
            "id": "e1",
            "title": "failed",
            "source": {"path": "in", "line": 4},
            "error": {"type": "Timeout", "message": "slow", "attempts": 3},
        },
        {
            "id": "old",
            "title": "no spans, no meta",
            "extraction": {
                "results": [
                    {"value": "12.5", "benchmark": "COCO", "evidence": "12.5"},
                    {"value": "twelve"},
                    "junk",
                    {"evidence": "no value"},
                ]
            },
        },
        {"id": "weird", "extraction": {"results": None, "code_links": [{"kind": "code"}]}},
        {"id": "noext"},
    ]
    path = write_jsonl(tmp_path / "messy.jsonl", messy, ("", "   ", '{"id": "cut', "[1, 2]", ""))
    path.write_text(path.read_text() + '{"id": "tail", "extraction": {"results": [{"va')
    result = table(str(path), "--show-merges")
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    assert [r["paper_id"] for r in rows] == ["p1", "p1", "p1", "old"]
    assert rows[-1]["value"] == "12.5"
    assert rows[-1]["unit"] == "" and rows[-1]["delta"] == "false"
    err = result.stderr
    assert f"warning: {path}:8: invalid JSON" in err
    assert f"warning: {path}:9: not a JSON object, skipped" in err
    assert f"warning: {path}:11: invalid JSON" in err
    assert "2 record(s) without an extraction skipped" in err
    assert "3 result(s) without a usable value skipped" in err
    assert table(str(path), "--pivot").exit_code == 0


def test_reads_stdin_and_the_gold_file() -> None:
    if not GOLD.exists():
        pytest.skip(f"{GOLD} not present")
    text = GOLD.read_text(encoding="utf-8")
    result = table("-", "--format", "json", input=text)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 19  # every gold result (gold/README.md)
    assert table(str(GOLD), "--pivot").exit_code == 0


def test_lines_split_only_on_newlines(tmp_path: Path) -> None:
    # U+2028 is valid unescaped inside a JSON string and must not cut the record in two.
    record = {"id": "u", "title": "a\u2028b", "extraction": {"results": [res(1, "B", None, "M")]}}
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    result = table(str(path), "--format", "json")
    assert result.stderr == ""
    assert json.loads(result.stdout)[0]["title"] == "a b"  # read whole; table cells are one line


# -- hostile cells (issue 17, case 14) ------------------------------------------------------

HOSTILE = [
    {
        "id": '=HYPERLINK("http://evil")',
        "title": "@SUM(A1:A9)",
        "abstract": "...",
        "extraction": {
            "results": [
                res(-1.5, "+cmd|' /C calc'!A0", "-acc", "\tModel"),
                res(2.0, "<img src=x onerror=alert(1)>", "acc", "![p](https://t.example/p.png)"),
            ],
        },
    }
]


def test_csv_neutralises_formula_text_cells_but_keeps_numbers(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "h.jsonl", HOSTILE)
    rows = csv_rows(table(str(path)).stdout)
    first = rows[0]
    assert first["paper_id"] == '\'=HYPERLINK("http://evil")'
    assert first["title"] == "'@SUM(A1:A9)"
    assert first["benchmark"] == "'+cmd|' /C calc'!A0"
    assert first["metric"] == "'-acc"
    assert first["value"] == "-1.5"  # a number, not text: it stays a number
    assert rows[1]["benchmark"] == "<img src=x onerror=alert(1)>"  # harmless in CSV
    pivot_header = next(csv.reader(io.StringIO(table(str(path), "--pivot").stdout)))
    assert pivot_header[1] == "'+cmd|' /C calc'!A0 / -acc [%]"


def test_csv_cell_rule() -> None:
    from extractor.cli.commands.table import csv_cell

    for text in ("=1+1", "+1", "-1", "@x", "\t=1", "\r=1", "  =1", "\uff1d1"):
        assert csv_cell(text) == "'" + text
    for text in ("a=1", "1-2", "ok", "", "'quoted"):
        assert csv_cell(text) == text
    assert csv_cell(-1.5) == "-1.5" and csv_cell(None) == ""
    assert csv_cell("=1+1", raw=True) == "=1+1"


def test_raw_csv_writes_cells_as_they_are(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "h.jsonl", HOSTILE)
    rows = csv_rows(table(str(path), "--raw").stdout)
    assert rows[0]["paper_id"] == '=HYPERLINK("http://evil")'
    assert rows[0]["benchmark"] == "+cmd|' /C calc'!A0"


def test_markdown_escapes_markup_in_every_cell(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "h.jsonl", HOSTILE)
    for args in ((), ("--pivot",)):
        md = table(str(path), "--format", "md", *args).stdout
        assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
        assert not re.search(r"(?<!\\)\]\(", md) and "![p\\](https://t.example/p.png)" in md
    plain = table(str(records_file_path(tmp_path)), "--format", "md").stdout
    assert "&" not in plain and "\\]" not in plain  # nothing to escape: nothing escaped


def records_file_path(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "plain.jsonl", RECORDS)


def test_a_benchmark_listed_as_a_model_is_cleared_with_a_note(tmp_path: Path) -> None:
    records = [
        {
            "id": "q",
            "title": "QMoE",
            "extraction": {
                "models": [{"name": "SwitchTransformer-c2048", "role": "compared"}],
                "results": [res(160.0, "SwitchTransformer-c2048", None, "QMoE", unit="GB")],
            },
        }
    ]
    result = table(str(write_jsonl(tmp_path / "q.jsonl", records)), "--pivot")
    assert result.exit_code == 0
    assert result.stdout == "model\n"  # no column: the benchmark was a model
    assert (
        "note: 1 result(s) give as benchmark a name listed as a model (SwitchTransformer-c2048): "
        "that benchmark is cleared, so the number stays out of the pivot"
    ) in result.stderr
    plain = table(str(write_jsonl(tmp_path / "ok.jsonl", RECORDS)))
    assert "listed as a" not in plain.stderr


def test_pivot_says_it_leaves_gains_out(records_file: Path) -> None:
    note = "note: pivot leaves out 1 gain(s) (delta results): they are not levels"
    assert note in table(str(records_file), "--pivot").stderr
    assert note not in table(str(records_file), "--pivot", "--no-delta").stderr
    assert "gain(s)" not in table(str(records_file)).stderr  # the long form shows them


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text() | st.floats(allow_nan=False, allow_infinity=False) | st.none(),
        min_size=1,
        max_size=6,
    )
)
def test_csv_cells_never_start_a_formula_and_read_back(cells: list[Any]) -> None:
    from extractor.cli.commands.table import csv_cell, to_csv

    _header, back = list(csv.reader(io.StringIO(to_csv((["h"] * len(cells), [cells])))))
    crlf = lambda text: text.replace("\r\n", "\n").replace("\r", "\n")  # noqa: E731
    assert back == [crlf(csv_cell(value)) for value in cells]  # one row, whatever the cells
    for value, cell in zip(cells, back, strict=True):
        if isinstance(value, str):
            assert not cell.lstrip(" ").startswith(tuple("=+-@\t\r"))
            assert cell in (crlf(value), "'" + crlf(value))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_markdown_cells_hold_no_markup(text: str) -> None:
    from extractor.cli.commands.table import md_cell

    cell = md_cell(text)
    assert "<" not in cell and ">" not in cell and "\n" not in cell
    assert "|" not in cell.replace("\\\\", "").replace("\\|", "")  # every pipe escaped
