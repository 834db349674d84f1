"""The library API (`from extractor import Extractor`) on respx: the CLI's behaviour from Python."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import extractor
from extractor import ExtractionError, Extractor, FatalError, RunConfig
from extractor.api import ConfigError, build_config
from extractor.cli import cli
from extractor.config import ModelConfig
from extractor.core.record import ErrorRecord, Record
from tests.cli.test_run import answer, papers, read_jsonl, write_jsonl
from tests.support.shared import BASE_URL, sent_paper


@pytest.fixture
def ex(tmp_path: Path) -> Any:
    with Extractor(base_url=BASE_URL, cache_dir=tmp_path / "cache", concurrency=3) as e:
        yield e


def fail_foonet1(request: httpx.Request) -> httpx.Response:
    if "FooNet1," in sent_paper(request):
        return httpx.Response(400, json={"error": {"message": "context length exceeded"}})
    return answer(request)


def test_extract_returns_one_record_of_the_contract(api: Any, ex: Extractor) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    p = papers(1)[0]
    record = ex.extract(p["title"], p["abstract"])
    Record.model_validate(record)
    assert record["title"] == p["title"]
    assert record["source"] == {"path": "<input>", "line": 1}
    assert record["extraction"]["models"][0]["name"] == "FooNet0"
    assert record["extraction"]["results"][0]["value"] == 80.5
    assert record["meta"]["cached"] is False and record["meta"]["attempts"] == 1
    assert route.call_count == 1
    # Asked again: the cache answers, as for the CLI.
    again = ex.extract(p["title"], p["abstract"], id="given-id", url="https://arxiv.org/abs/1")
    assert again["meta"]["cached"] is True and route.call_count == 1
    assert again["id"] == "given-id" and again["source"]["url"] == "https://arxiv.org/abs/1"
    assert again["extraction"] == record["extraction"]
    assert ex.stats.records == 2 and ex.stats.cached == 1
    assert ex.stats.spent_input_tokens == 120 and ex.stats.input_tokens == 240


def test_the_library_writes_the_same_records_as_the_cli(api: Any, tmp_path: Path) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    rows = papers(6)
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = CliRunner().invoke(
        cli, ["run", "--base-url", BASE_URL, str(src), "-o", str(tmp_path / "out.jsonl"), "-q"]
    )
    assert result.exit_code == 0
    from_cli = read_jsonl(tmp_path / "out.jsonl")
    # Another cache: the library asks the model itself, and gets the same records.
    with Extractor(base_url=BASE_URL, cache_dir=tmp_path / "other") as ex:
        from_api = list(ex.run(rows))
    assert [r["id"] for r in from_api] == [r["id"] for r in from_cli]
    for a, b in zip(from_api, from_cli, strict=True):
        assert a["source"] == {"path": "<input>", "line": b["source"]["line"]}
        assert {k: v for k, v in a.items() if k != "source"} == {
            k: v for k, v in b.items() if k != "source"
        }


def test_run_yields_in_input_order_with_errors_in_place(api: Any, ex: Extractor) -> None:
    route = api.post("/chat/completions").mock(side_effect=fail_foonet1)
    out = list(ex.run(papers(4)))
    assert [r["title"] for r in out] == [p["title"] for p in papers(4)]
    assert "error" in out[1] and "extraction" not in out[1]
    ErrorRecord.model_validate(out[1])
    assert out[1]["error"]["type"] == "http_error"
    assert ex.stats.records == 3 and ex.stats.failed == 1
    # skip: the failed paper is left out; the cache serves the rest, the failure is asked again
    assert [r["title"] for r in ex.run(papers(4), on_error="skip")] == [
        "Paper 0: FooNet0",
        "Paper 2: FooNet2",
        "Paper 3: FooNet3",
    ]
    assert route.call_count == 5
    with pytest.raises(ExtractionError) as info:
        list(ex.run(papers(4), on_error="raise"))
    assert info.value.record["title"] == "Paper 1: FooNet1"


def test_extract_raises_for_a_failed_paper_or_returns_its_error_record(
    api: Any, ex: Extractor
) -> None:
    api.post("/chat/completions").mock(side_effect=fail_foonet1)
    p = papers(2)[1]
    with pytest.raises(ExtractionError, match="http_error"):
        ex.extract(p["title"], p["abstract"])
    error = ex.extract(p["title"], p["abstract"], raise_errors=False)
    assert error["error"]["type"] == "http_error" and error["error"]["attempts"] == 1
    with pytest.raises(ValueError, match="abstract"):
        ex.extract("A title", "   ")


def test_inputs_dicts_pairs_dataframes_and_arrow_tables(api: Any, ex: Extractor) -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    api.post("/chat/completions").mock(side_effect=answer)
    rows = papers(3)
    want = [p["title"] for p in rows]
    assert [r["title"] for r in ex.run((p["title"], p["abstract"]) for p in rows)] == want
    assert [r["title"] for r in ex.run(pd.DataFrame(rows))] == want
    assert [r["title"] for r in ex.run(pa.Table.from_pylist(rows))] == want
    with pytest.raises(TypeError, match="a paper is a mapping"):
        list(ex.run(["just a string"]))


def test_duplicates_and_papers_without_abstract_are_skipped_like_the_cli(
    api: Any, ex: Extractor
) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    rows = papers(2)
    out = list(ex.run([rows[0], {"title": "no abstract"}, rows[1], dict(rows[0])]))
    assert [r["title"] for r in out] == [rows[0]["title"], rows[1]["title"]]
    assert [r["source"]["line"] for r in out] == [1, 3]
    assert route.call_count == 2
    assert ex.stats.duplicates == 1 and ex.stats.skipped == 1


def test_limit_stops_after_n_distinct_papers(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    with Extractor(base_url=BASE_URL, cache_dir=tmp_path / "c", limit=2) as ex:
        assert len(list(ex.run(papers(5)))) == 2
    assert route.call_count == 2


async def test_aextract_and_arun_from_a_running_loop(api: Any, ex: Extractor) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    rows = papers(5)
    records = await asyncio.gather(*(ex.aextract(p["title"], p["abstract"]) for p in rows))
    assert [r["title"] for r in records] == [p["title"] for p in rows]
    streamed = [r async for r in ex.arun(rows)]
    assert [r["id"] for r in streamed] == [r["id"] for r in records]
    assert all(r["meta"]["cached"] for r in streamed)
    # The sync API works inside a running loop too (a notebook): the Extractor has its own.
    assert ex.extract(rows[0]["title"], rows[0]["abstract"])["meta"]["cached"] is True


def test_concurrency_bounds_requests_in_flight_across_calls(api: Any, tmp_path: Path) -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return answer(request)

    api.post("/chat/completions").mock(side_effect=slow)
    with Extractor(base_url=BASE_URL, cache_dir=tmp_path / "c", concurrency=2) as ex:

        async def many() -> list[dict[str, Any]]:
            return await asyncio.gather(
                *(ex.aextract(p["title"], p["abstract"]) for p in papers(8))
            )

        assert len(asyncio.run(many())) == 8
    assert peak == 2


def test_a_rejected_key_raises_fatal_error(api: Any, tmp_path: Path) -> None:
    api.routes[0].mock(return_value=httpx.Response(401, json={"error": {"message": "bad"}}))
    route = api.post("/chat/completions").mock(side_effect=answer)
    with Extractor(base_url=BASE_URL, api_key="sk-wrong", cache_dir=tmp_path / "c") as ex:
        with pytest.raises(FatalError, match="rejected the API key"):
            list(ex.run(papers(5)))
        with pytest.raises(FatalError):
            ex.extract("t", "an abstract")
    assert route.call_count == 0


def test_stopping_early_cancels_the_rest(api: Any, ex: Extractor) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    for record in ex.run(papers(50)):
        assert record["title"] == "Paper 0: FooNet0"
        break
    # The Extractor is still usable, and what finished is cached.
    assert ex.extract(papers(1)[0]["title"], papers(1)[0]["abstract"])["meta"]["cached"]


def test_config_object_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = RunConfig(inputs=[], model=ModelConfig(model="m", base_url=BASE_URL))
    assert Extractor(config).config.model.model == "m"
    with pytest.raises(TypeError):
        Extractor(config, model="x")
    with pytest.raises(ConfigError, match="needs OPENAI_API_KEY"):
        Extractor(model="gpt-4o")
    with pytest.raises(ConfigError, match="labels"):
        build_config(base_url=BASE_URL, labels="select=nonsense")
    # The CLI's environment variables and defaults.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("EXTRACTOR_CONCURRENCY", "5")
    c = build_config()
    assert c.model.model == "gpt-4o-mini" and c.model.api_key == "sk-env"
    assert c.concurrency == 5 and c.model.prompt_variant == "full"
    assert "sk-env" not in repr(c)
    monkeypatch.delenv("OPENAI_API_KEY")
    local = build_config(concurrency=8)
    assert local.model.model == "local:qwen2.5-coder-1.5b"
    assert local.model.prompt_variant == "compact" and local.model.api_key is None
    assert Extractor(local).config.concurrency == 2  # the embedded server's slots


def test_records_to_dataframe_and_to_arrow(api: Any, ex: Extractor, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    api.post("/chat/completions").mock(side_effect=fail_foonet1)
    records = list(ex.run(papers(3)))
    df = extractor.records_to_dataframe(records)
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    assert list(df["id"]) == [r["id"] for r in records]
    assert df.loc[0, "models"][0]["name"] == "FooNet0"
    assert df.loc[1, "error_type"] == "http_error" and df.loc[1, "models"] is None
    assert bool(df.loc[0, "meta_cached"]) is False
    results = extractor.records_to_dataframe(records, kind="results")
    assert list(results["value"]) == [80.5, 82.5]
    assert list(results["benchmark"]) == ["ImageNet", "ImageNet"]
    table = extractor.to_arrow(records)
    assert isinstance(table, pa.Table) and table.num_rows == 3
    assert table.column("models").to_pylist()[2][0]["name"] == "FooNet2"
    import pyarrow.parquet as pq

    pq.write_table(table, tmp_path / "records.parquet")
    back = pq.read_table(tmp_path / "records.parquet").to_pylist()
    assert back[0]["results"][0]["evidence"] == "reaching 80.5% accuracy on ImageNet"


def test_tables_say_what_to_install_when_pandas_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        extractor.records_to_dataframe([])
    with pytest.raises(ImportError, match="extractor\\[parquet\\]"):
        extractor.to_arrow([])


def test_import_extractor_loads_no_sdk() -> None:
    code = (
        "import sys, extractor; from extractor import Extractor, RunConfig; "
        "assert 'openai' not in sys.modules and 'instructor' not in sys.modules, 'sdk'; "
        "assert 'ray' not in sys.modules; print(Extractor.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Extractor"


def test_a_cli_cached_answer_serves_the_library(api: Any, tmp_path: Path) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    cache = tmp_path / "shared-cache"
    CliRunner().invoke(
        cli,
        ["run", "--base-url", BASE_URL, str(src), "-o", str(tmp_path / "o.jsonl"), "-q"],
        env={"EXTRACTOR_CACHE_DIR": str(cache)},
    )
    assert route.call_count == 2
    with Extractor(base_url=BASE_URL, cache_dir=cache) as ex:
        assert all(r["meta"]["cached"] for r in ex.run(papers(2)))
    assert route.call_count == 2
    assert json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])["meta"]["cached"] is False


def test_another_paper_under_a_taken_id_is_an_input_error_like_the_cli(
    api: Any, ex: Extractor
) -> None:
    route = api.post("/chat/completions").mock(side_effect=answer)
    first, second = ({**p, "id": "1"} for p in papers(2))
    out = list(ex.run([first, second, dict(first)]))
    assert [r["title"] for r in out] == [first["title"], second["title"]]
    assert "error" not in out[0]
    assert out[1]["error"]["type"] == "input_error" and "'1'" in out[1]["error"]["message"]
    assert route.call_count == 1  # nothing is sent for the paper that cannot be that id
    assert ex.stats.duplicates == 1
