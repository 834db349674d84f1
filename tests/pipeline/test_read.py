"""The readers on bytes as users have them: byte-order marks, other encodings, line endings,
NULs, odd JSON; and papers that share an id."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli import cli
from extractor.pipeline.read import InputError, ReadStats, read_inputs
from tests.cli.test_run import answer, papers, read_jsonl
from tests.support.shared import BASE_URL, models_list


@pytest.fixture
def api() -> Any:
    import respx

    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.post("/chat/completions").mock(side_effect=answer)
        yield mock


def _read(path: Path | str, **kwargs: Any) -> tuple[list[Any], list[str]]:
    warnings: list[str] = []
    got = list(read_inputs([str(path)], None, warnings.append, **kwargs))
    return got, warnings


def _jsonl(rows: list[dict[str, Any]], newline: str = "\n") -> str:
    return "".join(json.dumps(r) + newline for r in rows)


def _csv(rows: list[dict[str, Any]], newline: str = "\r\n") -> str:
    body = "".join(f'"{r["title"]}","{r["abstract"]}"{newline}' for r in rows)
    return f"title,abstract{newline}{body}"


def _run(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(cli, ["run", "--base-url", BASE_URL, *args], input=stdin)


def _one_line(result: Any, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1, result.stderr


# --- byte-order marks -----------------------------------------------------------------------


def test_a_bom_in_csv_keeps_the_titles(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(codecs.BOM_UTF8 + _csv(papers(3)).encode())
    got, warnings = _read(src)
    assert [p.title for p in got] == [p["title"] for p in papers(3)]
    assert warnings == []


def test_a_bom_in_jsonl_keeps_the_first_paper(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(codecs.BOM_UTF8 + _jsonl(papers(3)).encode())
    got, warnings = _read(src)
    assert [p.title for p in got] == [p["title"] for p in papers(3)]
    assert warnings == []


def test_jsonl_with_a_bom_on_stdin_is_read_as_jsonl(api: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = _run("-", "-o", str(out), stdin=codecs.BOM_UTF8 + _jsonl(papers(2)).encode())
    assert result.exit_code == 0, result.output
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(2)]


def test_files_joined_with_cat_keep_the_paper_after_the_second_bom(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    one, two = (codecs.BOM_UTF8 + _jsonl([p]).encode() for p in papers(2))
    src.write_bytes(one + two)
    got, warnings = _read(src)
    assert len(got) == 2 and warnings == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_bom_are_decoded(tmp_path: Path, encoding: str) -> None:
    src = tmp_path / "in.csv"
    text = _csv(papers(2))
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    src.write_bytes(data)
    got, _ = _read(src)
    assert [p.title for p in got] == [p["title"] for p in papers(2)]


def test_utf16_without_a_bom_is_refused_with_the_way_out(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(_csv(papers(2)).encode("utf-16-le"))
    with pytest.raises(InputError, match="--encoding utf-16-le"):
        _read(src)
    got, _ = _read(src, encoding="utf-16-le")
    assert len(got) == 2


# --- bytes that are not UTF-8 --------------------------------------------------------------


def _latin1(tmp_path: Path) -> tuple[Path, int]:
    src = tmp_path / "in.csv"
    head = "title,abstract\n"
    rows = papers(2)
    text = head + f'"Caf\u00e9 {rows[0]["title"]}","{rows[0]["abstract"]}"\n'
    text += f'"{rows[1]["title"]}","{rows[1]["abstract"]}"\n'
    src.write_bytes(text.encode("latin-1"))
    return src, len(head) + len('"Caf')


def test_latin1_is_one_line_naming_file_and_byte(api: Any, tmp_path: Path) -> None:
    src, offset = _latin1(tmp_path)
    result = _run(str(src), "-o", str(tmp_path / "out.jsonl"))
    _one_line(result, f"{src}: not UTF-8 text at byte {offset} (line 2)")
    assert "--encoding" in result.stderr
    assert api.routes[1].call_count == 0  # before anything is sent
    assert not (tmp_path / "out.jsonl").exists()


def test_encoding_reads_latin1(api: Any, tmp_path: Path) -> None:
    src, _ = _latin1(tmp_path)
    out = tmp_path / "out.jsonl"
    result = _run(str(src), "-o", str(out), "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert read_jsonl(out)[0]["title"].startswith("Caf\u00e9 ")


def test_an_unknown_encoding_is_a_usage_error(tmp_path: Path) -> None:
    src, _ = _latin1(tmp_path)
    result = _run(str(src), "--encoding", "klingon")
    assert result.exit_code == 2 and "unknown encoding 'klingon'" in result.stderr


def test_a_bad_byte_past_the_up_front_check_stops_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("extractor.pipeline.read._CHECK_WHOLE", 10)  # as if the file were huge
    monkeypatch.setattr("extractor.pipeline.read._HEAD_BYTES", 10)
    src = tmp_path / "in.jsonl"
    good = _jsonl(papers(3)).encode()
    src.write_bytes(good + b'{"title": "x\xff", "abstract": "y"}\n')
    got: list[Any] = []
    with pytest.raises(InputError, match=f"not UTF-8 text at byte {len(good) + 12} \\(line 4\\)"):
        for paper in read_inputs([str(src)], None, lambda _m: None):
            got.append(paper)
    assert len(got) == 3


def test_a_truncated_character_at_the_end_is_named(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = _jsonl(papers(1)).encode()
    src.write_bytes(good + "\u00e9".encode()[:1])
    with pytest.raises(InputError, match=f"at byte {len(good)} \\(line 2\\)"):
        _read(src)


# --- line endings, NULs, odd JSON -----------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_line_ending(tmp_path: Path, newline: str) -> None:
    for name, text in (
        ("in.jsonl", _jsonl(papers(3), newline)),
        ("in.csv", _csv(papers(3), newline)),
    ):
        src = tmp_path / name
        src.write_bytes(text.encode())
        got, warnings = _read(src)
        assert [p.title for p in got] == [p["title"] for p in papers(3)], (name, warnings)
        assert [p.abstract for p in got] == [p["abstract"] for p in papers(3)]


def test_a_nul_byte_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(_jsonl(papers(2)).encode() + b"\x00\x00junk\n")
    with pytest.raises(InputError, match="NUL byte in line 3"):
        _read(src)


@pytest.mark.parametrize(
    "line",
    ["[" * 100_000 + "]" * 100_000, '{"title": "t", "abstract": ' + "1" * 5000 + "}"],
    ids=["deeply-nested", "huge-integer"],
)
def test_json_that_python_cannot_hold_is_a_skipped_line(tmp_path: Path, line: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(_jsonl(papers(1)) + line + "\n" + _jsonl(papers(2)[1:]))
    got, warnings = _read(src)
    assert len(got) == 2
    assert len(warnings) == 1 and f"{src}:2: invalid JSON" in warnings[0]


def test_a_huge_csv_field(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    rows = [{"title": "Big", "abstract": "word " * 400_000}]  # 2 MB in one cell
    src.write_text(_csv(rows))
    got, _ = _read(src)
    assert len(got[0].abstract) == len(rows[0]["abstract"].strip())


# --- papers that share an id ------------------------------------------------------------------


def test_distinct_papers_with_one_id_are_errors_not_duplicates(api: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    rows = papers(4)
    a.write_text("id,title,abstract\n" + "".join(
        f'{i},"{r["title"]}","{r["abstract"]}"\n' for i, r in enumerate(rows[:2], 1)
    ))  # fmt: skip
    b.write_text("id,title,abstract\n" + "".join(
        f'{i},"{r["title"]}","{r["abstract"]}"\n' for i, r in enumerate(rows[2:], 1)
    ))  # fmt: skip
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    result = _run(str(a), str(b), "-o", str(out), "-e", str(errors))
    assert result.exit_code == 3, result.output
    assert [r["title"] for r in read_jsonl(out)] == [r["title"] for r in rows[:2]]
    failed = read_jsonl(errors)
    assert [(e["title"], e["source"]["path"], e["error"]["type"]) for e in failed] == [
        (rows[2]["title"], str(b), "input_error"), (rows[3]["title"], str(b), "input_error"),
    ]  # fmt: skip
    assert "id '1' is already another paper's" in failed[0]["error"]["message"]
    assert api.routes[1].call_count == 2  # nothing sent for the two that clash


def test_an_int_id_and_a_string_id_are_one_id(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    one, two = papers(2)
    src.write_text(_jsonl([{**one, "id": 1}, {**two, "id": "1"}, {**one, "id": "1"}]))
    stats = ReadStats()
    got = list(read_inputs([str(src)], None, lambda _m: None, stats))
    assert [p.problem is None for p in got] == [True, False]  # the third is the first again
    assert stats.duplicates == 1 and stats.conflicts == 1


def test_the_same_paper_twice_is_one_duplicate(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    (one,) = papers(1)
    rewrapped = {**one, "abstract": one["abstract"].replace(" ", "\n ", 1)}
    src.write_text(_jsonl([one, one, rewrapped, {**one, "id": "x"}, {**one, "id": "x"}]))
    stats = ReadStats()
    got = list(read_inputs([str(src)], None, lambda _m: None, stats))
    assert len(got) == 2 and all(p.problem is None for p in got)
    assert stats.duplicates == 3 and stats.conflicts == 0


def test_a_line_longer_than_any_record_is_one_line_not_all_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("extractor.pipeline.read._MAX_LINE", 1000)
    src = tmp_path / "in.jsonl"
    src.write_text(_jsonl(papers(1)) + "x" * 5000 + "\n")
    with pytest.raises(InputError, match="line 2 is over"):
        _read(src)
