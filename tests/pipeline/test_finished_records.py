"""Finished records: a rerun served from the cache copies each record out instead of mining,
grounding and encoding the paper again, and must write exactly what grounding would."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest

from extractor.config import ModelConfig
from extractor.model.call import Reply
from extractor.pipeline.cache import CACHE_FORMAT, Finished, KeyMaker, ResponseCache, cache_key
from tests.cli.test_run import answer, invoke, papers, write_jsonl
from tests.support.shared import BASE_URL

ODD_PAPERS: list[dict[str, Any]] = [
    *papers(3),
    # a given id and url, text the encoder escapes, characters it must not
    {
        "id": 42,
        "url": "https://arxiv.org/abs/2501.00001",
        "title": 'Paper "quoted": FooNet7 \u2028 ünïcode',
        "abstract": "We propose FooNet7, reaching 91.5% accuracy on ImageNet. Tab\there, "
        "a backslash \\ and an emoji \U0001f600 and \u2028.",
    },
]


def _lines(path: Path) -> list[str]:
    # not splitlines(): a record may hold U+2028, which JSON leaves as it is
    return path.read_text(encoding="utf-8").rstrip("\n").split("\n")


def test_a_rerun_writes_byte_for_byte_what_grounding_wrote(api: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", ODD_PAPERS)
    route = api.post("/chat/completions").mock(side_effect=answer)
    first, second, third = (tmp_path / f"out{i}.jsonl" for i in range(3))

    priced = ("--price-in", "1.25", "--price-out", "10")  # meta.cost_usd is written too
    assert invoke(str(src), "-o", str(first), *priced).exit_code == 0
    assert route.call_count == len(ODD_PAPERS)
    assert invoke(str(src), "-o", str(second), *priced).exit_code == 0
    assert invoke(str(src), "-o", str(third), *priced).exit_code == 0
    assert route.call_count == len(ODD_PAPERS)  # no request on either rerun

    live = [json.loads(line) for line in _lines(first)]
    assert all(r["meta"]["cached"] is False for r in live)
    for path in (second, third):
        rerun = _lines(path)
        # the same bytes but for the cached flag
        assert [line.replace('"cached":true', '"cached":false', 1) for line in rerun] == _lines(
            first
        )
    assert live[3]["source"]["url"] == "https://arxiv.org/abs/2501.00001"
    assert live[3]["id"] == "42"
    assert live[0]["meta"]["cost_usd"] == round((120 * 1.25 + 40 * 10) / 1e6, 8)


def test_the_rerun_copies_records_without_grounding_again(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(4))
    api.post("/chat/completions").mock(side_effect=answer)
    assert invoke(str(src), "-o", str(tmp_path / "a.jsonl")).exit_code == 0

    def no_grounding(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("grounded again")

    monkeypatch.setattr("extractor.pipeline.stages.ground", no_grounding)
    monkeypatch.setattr("extractor.pipeline.stages.analyze", no_grounding)
    result = invoke(str(src), "-o", str(tmp_path / "b.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert len(_lines(tmp_path / "b.jsonl")) == 4

    # Another label policy is another record version: grounded again from the cached
    # answers (here: the stand-in raises, so each is an internal_error, not a stale record).
    result = invoke(str(src), "-o", str(tmp_path / "c.jsonl"), "--labels", "select=model")
    assert result.exit_code == 3
    errors = [json.loads(x) for x in _lines(tmp_path / "c.errors.jsonl")]
    assert {e["error"]["type"] for e in errors} == {"internal_error"}


def test_an_abstract_cut_for_the_prompt_keeps_no_record(api: Any, tmp_path: Path) -> None:
    # Its key covers only the part the prompt shows, not the whole text the record holds.
    long = {"title": "Paper: FooNet1", "abstract": "We propose FooNet1, reaching 81.5% accuracy "
            "on ImageNet. " + "More words here. " * 1300}  # fmt: skip
    src = write_jsonl(tmp_path / "in.jsonl", [long, *papers(1)])
    api.post("/chat/completions").mock(side_effect=answer)
    assert invoke(str(src), "-o", str(tmp_path / "a.jsonl")).exit_code == 0
    assert invoke(str(src), "-o", str(tmp_path / "b.jsonl")).exit_code == 0
    stats = ResponseCache(Path(os.environ["EXTRACTOR_CACHE_DIR"])).stats()
    assert stats["entries"] == 2 and stats["records"] == 1
    first, again = _lines(tmp_path / "a.jsonl"), _lines(tmp_path / "b.jsonl")
    assert "abstract truncated" in first[0]
    assert [x.replace('"cached":true', '"cached":false', 1) for x in again] == first


def _finished(version: str = "v1", attempts: int = 1) -> Finished:
    return Finished(version, '"extraction":{},"spans":{}', ("w",), attempts, 10, 5)


def test_replacing_an_answer_drops_the_record_made_from_it(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c")
    reply = Reply({"models": []}, 1, 10, 5)
    cache.set_reply("k", reply, _finished())
    assert cache.get_finished("k", "v1") == _finished()
    assert cache.get_finished("k", "v2") is None  # another version is not served
    cache.set_reply("k", reply)  # a new answer, no record yet
    assert cache.get_finished("k", "v1") is None

    cache.set_finished("k", _finished(attempts=2))  # held for a batched write...
    cache.set_reply("k", reply)  # ...which a newer answer cancels
    cache.flush()
    assert cache.get_finished("k", "v1") is None
    cache.close()


def test_records_are_written_in_batches_and_on_close(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c")
    cache.set_finished("k", _finished())
    assert ResponseCache(tmp_path / "c").get_finished("k", "v1") is None  # not yet on disk
    cache.close()
    reopened = ResponseCache(tmp_path / "c")
    assert reopened.get_finished("k", "v1") == _finished()
    stats = reopened.stats()
    assert stats["entries"] == 0 and stats["records"] == 1 and stats["unreadable"] == 0
    reopened.close()


GOOD = (2, "v1", "{}", [], 1, 1, 1, False, 0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        (1, *GOOD[1:]),  # another format
        GOOD[:-1],  # a field short
        (*GOOD[:2], b"{}", *GOOD[3:]),  # body not text
        (*GOOD[:3], [3], *GOOD[4:]),  # a warning not text
        (*GOOD[:4], True, *GOOD[5:]),  # a bool for a count
        (*GOOD[:4], -1, *GOOD[5:]),
        (*GOOD[:7], "yes", GOOD[8]),
        (*GOOD[:8], -5),  # cached input tokens below zero
    ],
)
def test_a_malformed_record_is_a_miss_never_a_crash(tmp_path: Path, value: Any) -> None:
    import diskcache

    cache = ResponseCache(tmp_path / "c")
    cache._cache.set("good.record", GOOD)
    assert cache.get_finished("good", "v1") is not None  # the shape the others break
    # written as a cache from before JSON would have it (a pickle), to reach every shape
    with diskcache.Cache(str(tmp_path / "c")) as old:
        old.set("k.record", value)
    assert cache.get_finished("k", "v1") is None
    cache.close()


def test_keys_are_what_they_were_so_old_caches_still_hit() -> None:
    model = ModelConfig(model="m", base_url="http://x/v1", mode="json_schema")
    settings = json.dumps(["m", "url:http://x/v1", "json_schema", 0.0, 2048, "p", "s"])
    assert model.temperature == 0.0 and model.max_tokens == 2048
    digest = hashlib.sha256(settings.encode())
    digest.update("\0{}\0{}\0".format(len("T"), len("Ab \u00e9")).encode())
    digest.update(b"T")
    digest.update("Ab \u00e9".encode())
    key = cache_key(model, "url:http://x/v1", "p", "s", "T", "Ab \u00e9")
    assert key == digest.hexdigest()
    maker = pickle.loads(pickle.dumps(KeyMaker(model, "url:http://x/v1", "p", "s")))
    assert maker.key("T", "Ab \u00e9") == key  # Ray ships it to its actors
    assert CACHE_FORMAT == 1


def test_input_served_from_the_providers_prompt_cache_is_priced_as_cached(
    api: Any, tmp_path: Path
) -> None:
    def cached_prefix(request: httpx.Request) -> httpx.Response:
        response = answer(request)
        body = json.loads(response.content)
        body["usage"]["prompt_tokens_details"] = {"cached_tokens": 100}
        return httpx.Response(200, json=body)

    api.post("/chat/completions").mock(side_effect=cached_prefix)
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."test-model"]\ninput = 2.0\ncached_input = 0.5\noutput = 8.0\n')
    args = ("-m", "test-model", "--prices", str(prices))
    assert invoke(str(src), "-o", str(tmp_path / "a.jsonl"), *args).exit_code == 0
    assert invoke(str(src), "-o", str(tmp_path / "b.jsonl"), *args).exit_code == 0
    # 120 prompt tokens, 100 of them cached; 40 out
    expected = round((20 * 2.0 + 100 * 0.5 + 40 * 8.0) / 1e6, 8)
    for name in ("a.jsonl", "b.jsonl"):
        (record,) = [json.loads(x) for x in _lines(tmp_path / name)]
        assert record["meta"]["cost_usd"] == expected
    cache = ResponseCache(Path(os.environ["EXTRACTOR_CACHE_DIR"]))
    (key,) = [k for k in cache._cache.iterkeys() if not k.endswith(".record")]
    reply = cache.get_reply(key)
    assert reply is not None and reply.cached_input_tokens == 100
    cache.close()


def test_an_answer_is_cached_before_its_record_is_grounded(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run cancelled between the answer and its record (Ctrl-C, a fatal error elsewhere)
    # must not lose what was paid for.
    import asyncio

    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    route = api.post("/chat/completions").mock(side_effect=answer)

    def cancelled(*_a: Any, **_k: Any) -> Any:
        raise asyncio.CancelledError

    with monkeypatch.context() as m, contextlib.suppress(BaseException):
        m.setattr("extractor.pipeline.stages.Stages.finish", cancelled)
        invoke(str(src), "-o", str(tmp_path / "a.jsonl"))
    assert route.call_count == 1
    result = invoke(str(src), "-o", str(tmp_path / "b.jsonl"))
    assert result.exit_code == 0 and "1 cached" in result.stderr
    assert route.call_count == 1


def test_a_record_that_cannot_be_written_is_only_a_lost_shortcut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ResponseCache(tmp_path / "c")
    cache.set_finished("k", _finished())

    def locked() -> Any:
        raise TimeoutError("database is locked")

    monkeypatch.setattr(cache._cache, "transact", locked)
    cache.flush()  # no exception: the record is made again next time
    monkeypatch.undo()
    cache.close()
    assert ResponseCache(tmp_path / "c").get_finished("k", "v1") is None


def test_a_paper_the_library_built_oddly_is_grounded_not_copied(api: Any, tmp_path: Path) -> None:
    from extractor import Extractor
    from extractor.core.paper import Paper

    api.post("/chat/completions").mock(side_effect=answer)
    p = papers(1)[0]
    with Extractor(base_url=BASE_URL, cache_dir=tmp_path / "cache") as ex:
        first = ex.extract(p["title"], p["abstract"])
        odd = Paper(7, p["title"], p["abstract"], "<input>", 1)  # type: ignore[arg-type]
        (again,) = list(ex.run([odd]))
    assert again["meta"]["cached"] is True
    assert again["extraction"] == first["extraction"]
