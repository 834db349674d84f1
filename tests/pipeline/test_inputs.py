"""Input formats, and bad input: a clear one-line message, never a traceback, nothing lost."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.config import MAX_ABSTRACT_CHARS
from extractor.core.paper import paper_id
from extractor.pipeline.read import ReadStats, read_inputs
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import BASE_URL, SEEDS, models_list, sent_paper


@pytest.fixture
def api() -> Any:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.post("/chat/completions").mock(side_effect=answer)
        yield mock


def one_line_error(result: Any, expected: str) -> None:
    assert result.exit_code == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1, result.stderr


def test_papers_pages_drop_the_chrome(tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    abstract = "We propose GluedNet. " * 20
    page.write_text(
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        "byAK and the research community\n\nMar 11\n\nFirst Title\n\n" + abstract + "\n\n"
        f"SubscribeSecond Title: Glued\n{abstract}\nOrphan title without abstract\n",
        encoding="utf-8",
    )
    warnings: list[str] = []
    got = list(read_inputs([str(page)], None, warnings.append))
    assert [(p.title, p.line) for p in got] == [("First Title", 13), ("Second Title: Glued", 17)]
    assert got[0].abstract == abstract.strip()
    assert warnings == [
        f"{page}:19: title without an abstract, skipped: 'Orphan title without abstract'"
    ]


def test_real_seed_files_507_pairs_411_distinct() -> None:
    stats = ReadStats()
    got = list(read_inputs([str(p) for p in SEEDS], None, lambda m: None, stats))
    assert stats.read + stats.duplicates == 507
    assert len(got) == 411 == len({p.id for p in got})
    assert all(len(p.title) < 300 and len(p.abstract) > 300 for p in got)
    assert got[0].title == "MultiModN- Multimodal, Multi-Task, Interpretable Modular Networks"
    titles = {p.title for p in got}
    assert (
        "CC-OCR: A Comprehensive and Challenging OCR Benchmark for Evaluating Large Multimodal Models in Literacy"
        in titles
    )


@pytest.mark.parametrize(
    "text",
    ["plain words", "  double  spaces ", "tab\there", "line\nbreak", "nbsp\u00a0here",
     "thin\u2009 space", "zero\u200bwidth", "ideographic\u3000space", "sep\x1cchar",
     "e\u0301 composed", "", " ", "trailing ", "ascii\x7fdel", "caf\u00e9  x"],
)  # fmt: skip
def test_the_id_fast_path_agrees_with_the_canonical_form(text: str) -> None:
    import unicodedata

    from extractor.core.paper import _canonical

    assert _canonical(text) == " ".join(unicodedata.normalize("NFKC", text).split()).encode()


def test_ids_are_what_they_were() -> None:
    # ids name records across runs and files: the same text, the same id as in 0.1
    import hashlib

    title, abstract = "A Title", "An abstract with é and 91.5%."
    expected = hashlib.sha256(f"{title}\n{abstract}".encode()).hexdigest()[:16]
    assert paper_id(title, abstract) == expected


def test_ids_are_stable_and_insensitive_to_rewrapping() -> None:
    assert paper_id("A  Title", "An\nabstract.") == paper_id("A Title", "An abstract.")
    assert paper_id("A Title", "An abstract.") != paper_id("A Title", "Another abstract.")
    assert len(paper_id("t", "a")) == 16


def test_jsonl_keeps_given_ids_and_reports_bad_lines(api: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = papers(3)
    src.write_text(
        json.dumps({**good[0], "id": "arxiv:1"}) + "\n"
        + "{not json\n"
        + json.dumps({"title": "No abstract here"}) + "\n"
        + "[1, 2]\n\n"
        + json.dumps(good[1]) + "\n"
        + json.dumps(good[2]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0
    assert f"{src}:2: invalid JSON" in result.stderr
    assert f"{src}:3: record has no abstract, skipped" in result.stderr
    assert f"{src}:4: not a JSON object" in result.stderr
    assert "3 unreadable input records skipped" in result.stderr
    records = read_jsonl(tmp_path / "out.jsonl")
    assert records[0]["id"] == "arxiv:1"
    assert [r["source"]["line"] for r in records] == [1, 6, 7]


def test_csv_input(api: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    rows = papers(2)
    src.write_text(
        "Title,Abstract,id\n"
        + "".join(f'"{r["title"]}","{r["abstract"]}",c{i}\n' for i, r in enumerate(rows)),
        encoding="utf-8",
    )
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [(r["id"], r["title"], r["source"]["line"]) for r in records] == [
        ("c0", rows[0]["title"], 2), ("c1", rows[1]["title"], 3),
    ]  # fmt: skip


def test_csv_without_abstract_column(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("title,summary\nA,B\n", encoding="utf-8")
    one_line_error(invoke(str(src), "-f", "csv"), "CSV header has no 'abstract' column")


def test_missing_file(tmp_path: Path) -> None:
    one_line_error(invoke(str(tmp_path / "nope.txt")), "nope.txt: no such file")


def test_directory(tmp_path: Path) -> None:
    one_line_error(invoke(str(tmp_path)), "is a directory")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    real_open = Path.open

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == src:  # chmod 000 does not stop root, which CI may be
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    one_line_error(invoke(str(src)), "in.jsonl: cannot read (Permission denied)")


def test_empty_file(tmp_path: Path) -> None:
    src = tmp_path / "empty.txt"
    src.write_text("\n\n  \n", encoding="utf-8")
    one_line_error(invoke(str(src)), "empty input")


def test_binary_garbage(tmp_path: Path) -> None:
    src = tmp_path / "garbage.bin"
    rng = random.Random(1)
    src.write_bytes(bytes(rng.randrange(256) for _ in range(5000)))
    one_line_error(invoke(str(src)), "not a text file")


def test_a_bad_path_among_good_ones_stops_before_any_request(api: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    one_line_error(invoke(str(src), str(tmp_path / "missing.jsonl")), "no such file")
    assert api.routes[1].call_count == 0


def test_a_huge_abstract_is_truncated_in_the_prompt_only(api: Any, tmp_path: Path) -> None:
    huge = "We propose FooNet0, reaching 80.5% accuracy on ImageNet. " + "Filler text. " * 8000
    src = write_jsonl(tmp_path / "in.jsonl", [{"title": "Big", "abstract": huge}])
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0
    [record] = read_jsonl(tmp_path / "out.jsonl")
    assert record["abstract"] == huge.strip()  # nothing the user gave is lost
    assert any(
        f"truncated from {len(huge.strip())} to {MAX_ABSTRACT_CHARS}" in w
        for w in record["warnings"]
    )
    sent = sent_paper(api.routes[1].calls[0].request)
    assert len(sent) < MAX_ABSTRACT_CHARS + 200


def test_output_is_in_input_order_whatever_the_finishing_order(tmp_path: Path) -> None:
    rng = random.Random(7)

    async def slow_answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(rng.random() * 0.05)
        return answer(request)

    src = write_jsonl(tmp_path / "in.jsonl", papers(40))
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.post("/chat/completions").mock(side_effect=slow_answer)
        result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-c", "8")
    assert result.exit_code == 0
    assert [r["title"] for r in read_jsonl(tmp_path / "out.jsonl")] == [
        p["title"] for p in papers(40)
    ]


def test_an_interrupted_run_keeps_what_finished_and_resumes_from_the_cache(tmp_path: Path) -> None:
    calls = 0

    def interrupting(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        return answer(request)

    src = write_jsonl(tmp_path / "in.jsonl", papers(6))
    out = tmp_path / "out.jsonl"
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/models").mock(return_value=models_list())
        route = mock.post("/chat/completions").mock(side_effect=interrupting)
        first = invoke(str(src), "-o", str(out), "-c", "1")
        assert first.exit_code == 130
        assert "interrupted: 3 records written" in first.stderr
        assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(3)]
        route.mock(side_effect=answer)
        before = route.call_count
        second = invoke(str(src), "-o", str(out), "-c", "1")
    assert second.exit_code == 0
    records = read_jsonl(out)
    assert len(records) == 6
    cached = [r["meta"]["cached"] for r in records]
    assert cached[:3] == [True] * 3 and cached[3] is False
    # only what never got an answer is asked again: every paper's answer is paid for once
    # (an answer that came back is kept, even one that arrived as the run was being
    # interrupted; respx does not count the request the interrupt cut short)
    assert route.call_count - before == cached.count(False)
    assert route.call_count == 6


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "extractor", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("extractor, version")


def test_schema_command_matches_files_in_schemas() -> None:
    from extractor.cli.commands.schema import record_schemas, render

    root = Path(__file__).resolve().parents[2] / "schemas"
    for name, schema in record_schemas().items():
        assert (root / name).read_text(encoding="utf-8") == render(schema), (
            f"schemas/{name} is stale: run `python -m extractor.cli.commands.schema` to regenerate"
        )
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "ExtractorRecord"
