"""The response cache is data: nothing in a cache directory runs, a damaged one has a way
out, and caches written before the JSON format still answer."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli import cli
from tests.cli.test_run import answer, invoke, papers, read_jsonl, write_jsonl

SENTINEL_NAME = "pwned"


class _Evil:
    """A pickle that, once loaded by a plain unpickler, creates a file: how a planted
    cache.db would run code."""

    def __init__(self, sentinel: Path):
        self.sentinel = str(sentinel)

    def __reduce__(self) -> Any:
        return (open, (self.sentinel, "w"))


def _old_cache(directory: Path) -> Any:
    """A diskcache with its default Disk: values are pickles, as before the JSON format."""
    import diskcache

    return diskcache.Cache(str(directory))


def _first_run(api: Any, tmp_path: Path, n: int = 2) -> tuple[Path, Path, Any]:
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(n))
    out = tmp_path / "out.jsonl"
    first = invoke(str(src), "-o", str(out))
    assert first.exit_code == 0 and chat.call_count == n, first.stderr
    return src, out, chat


def _rows(directory: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(directory / "cache.db") as con:
        return con.execute("SELECT key, raw, mode, filename, value FROM Cache").fetchall()


def test_values_are_stored_as_json_not_pickles(
    api: Any, tmp_path: Path, _isolated_env: Path
) -> None:
    _first_run(api, tmp_path)
    rows = _rows(_isolated_env)
    assert rows
    for key, raw, _mode, filename, value in rows:
        assert raw == 1 and isinstance(key, str)  # keys as they always were
        data = value if value is not None else (_isolated_env / filename).read_bytes()
        json.loads(data)  # every value is JSON ...
        assert not bytes(data).startswith(b"\x80")  # ... and no pickle


def test_a_planted_pickle_never_runs_on_run_or_cache_stats(
    api: Any, tmp_path: Path, _isolated_env: Path
) -> None:
    src, out, chat = _first_run(api, tmp_path)
    sentinel = tmp_path / SENTINEL_NAME
    with _old_cache(_isolated_env) as cache:
        for key in list(cache.iterkeys()):
            cache.set(key, _Evil(sentinel))  # answers and finished records alike
        cache.set(_Evil(sentinel), 1)  # a pickled key too: `cache stats` walks the keys
        big = [_Evil(sentinel), "x" * 100_000]  # big enough for a value file of its own
        cache.set("big", big)

    stats = CliRunner().invoke(cli, ["cache", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert not sentinel.exists()
    assert json.loads(stats.stdout)["unreadable"] >= 2

    again = invoke(str(src), "-o", str(out))
    assert again.exit_code == 0, again.stderr
    assert not sentinel.exists()
    assert chat.call_count == 4  # the planted entries were misses: asked again
    assert [r["title"] for r in read_jsonl(out)] == [p["title"] for p in papers(2)]
    said = [ln for ln in again.stderr.splitlines() if "could not be read safely" in ln]
    assert len(said) == 1, again.stderr  # said once, not per entry
    third = invoke(str(src), "-o", str(out))  # and replaced by good entries
    assert third.exit_code == 0 and "2 cached" in third.stderr and chat.call_count == 4


def test_a_cache_of_plain_pickles_from_before_still_answers_without_a_request(
    api: Any, tmp_path: Path, _isolated_env: Path
) -> None:
    src, out, chat = _first_run(api, tmp_path, n=3)
    expected = read_jsonl(out)
    with _old_cache(_isolated_env) as cache:
        for key in list(cache.iterkeys()):
            value = json.loads(cache.get(key))  # what the JSON disk wrote
            # as the pickling version wrote them: answers as dicts, records as tuples
            if key.endswith(".record"):
                cache.delete(key)  # the answers alone must do: grounded again from them
            else:
                cache.set(key, value)
    models = api.routes[0]
    calls = chat.call_count + models.call_count
    again = invoke(str(src), "-o", str(out))
    assert again.exit_code == 0, again.stderr
    assert chat.call_count + models.call_count == calls  # not a single request
    assert "3 cached" in again.stderr and "could not be read" not in again.stderr
    assert [r["extraction"] for r in read_jsonl(out)] == [r["extraction"] for r in expected]


def test_a_pickled_finished_record_from_before_is_read_too(tmp_path: Path) -> None:
    from extractor.pipeline.cache import Finished, ResponseCache

    done = Finished("v1", '"extraction":{},"spans":{}', ("w",), 1, 2, 3)
    with _old_cache(tmp_path / "c") as cache:
        cache.set("k.record", done.encode())  # a tuple, pickled
    reader = ResponseCache(tmp_path / "c")
    assert reader.get_finished("k", "v1") == done
    reader.close()


def test_a_row_naming_a_file_outside_the_cache_is_neither_read_nor_deleted(
    tmp_path: Path,
) -> None:
    from extractor.model.call import Reply
    from extractor.pipeline.cache import ResponseCache

    victim = tmp_path / "victim.txt"
    victim.write_text('{"v": 1}')
    directory = tmp_path / "c"
    cache = ResponseCache(directory)
    cache.set_reply("k", Reply({}, 1, 1, 1))
    cache.close()
    with sqlite3.connect(directory / "cache.db") as con:
        con.execute("UPDATE Cache SET mode = 2, value = NULL, filename = ?", (str(victim),))
    cache = ResponseCache(directory)
    assert cache.get_reply("k") is None
    cache.set_reply("k", Reply({}, 1, 1, 1))  # replacing the row deletes the old file...
    cache.clear()
    cache.close()
    assert victim.read_text() == '{"v": 1}'  # ... never one the cache did not write


def _damage(directory: Path, how: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "cache.db"
    if how == "random":
        db.write_bytes(os.urandom(4096))
    elif how == "text":
        db.write_text("not a database\n" * 50)
    elif how == "truncated":
        data = db.read_bytes()
        for name in ("cache.db-wal", "cache.db-shm"):
            (directory / name).unlink(missing_ok=True)
        db.write_bytes(data[: len(data) // 3])
    elif how == "schema":
        for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
            (directory / name).unlink(missing_ok=True)
        with sqlite3.connect(db) as con:
            con.execute("CREATE TABLE Cache (a, b)")


def _one_line(result: Any, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1, result.stderr


@pytest.mark.parametrize("how", ["random", "text", "truncated", "schema"])
def test_a_damaged_cache_stops_run_and_stats_with_the_way_out(
    api: Any, tmp_path: Path, _isolated_env: Path, how: str
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(5))
    chat = api.post("/chat/completions").mock(side_effect=answer)
    assert invoke(str(src), "-o", str(tmp_path / "first.jsonl")).exit_code == 0
    _damage(_isolated_env, how)
    calls = chat.call_count
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli, ["run", "--base-url", "http://llm.test/v1", str(src), "-o", str(out)]
    )
    _one_line(result, "cache clear")
    assert chat.call_count == calls  # nothing paid for that could not be kept
    assert not out.exists()
    _one_line(CliRunner().invoke(cli, ["cache", "stats"]), "damaged")


@pytest.mark.parametrize("how", ["random", "truncated", "schema"])
def test_cache_clear_removes_a_damaged_cache_and_nothing_else(
    _isolated_env: Path, how: str
) -> None:
    from extractor.model.call import Reply
    from extractor.pipeline.cache import ResponseCache

    cache = ResponseCache(_isolated_env)
    for i in range(3):  # big answers: value files in diskcache's folders
        cache.set_reply(f"k{i}", Reply({"tasks": ["x" * 50_000]}, 1, 1, 1))
    cache.close()
    values = list(_isolated_env.rglob("*.val"))
    assert len(values) == 3
    # the user's own files beside the cache, some shaped like the cache's
    (_isolated_env / "notes.txt").write_text("mine")
    (_isolated_env / "ab").mkdir(exist_ok=True)
    (_isolated_env / "ab" / "mine.txt").write_text("mine")
    _damage(_isolated_env, how)
    result = CliRunner().invoke(cli, ["cache", "clear", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert not (_isolated_env / "cache.db").exists()
    assert not any(v.exists() for v in values)
    assert (_isolated_env / "notes.txt").read_text() == "mine"
    assert (_isolated_env / "ab" / "mine.txt").read_text() == "mine"
    # and the cache works again
    stats = CliRunner().invoke(cli, ["cache", "stats", "--json"])
    assert stats.exit_code == 0 and json.loads(stats.stdout)["entries"] == 0


def test_a_cache_dir_that_is_a_file_is_one_line(tmp_path: Path, api: Any) -> None:
    api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    target = tmp_path / "afile"
    target.write_text("user data")
    env = {"EXTRACTOR_CACHE_DIR": str(target)}
    run = ["run", "--base-url", "http://llm.test/v1", str(src)]
    for args in (run, ["cache", "stats"], ["cache", "clear", "--yes"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 2 and "is a file" in result.stderr, result.output
        assert "Traceback" not in result.output
    assert target.read_text() == "user data"


def test_the_library_gets_the_same_error_for_a_cache_dir_that_is_a_file(tmp_path: Path) -> None:
    from extractor.pipeline.cache import CacheError, ResponseCache

    target = tmp_path / "afile"
    target.write_text("user data")
    cache = ResponseCache(target)
    with pytest.raises(CacheError, match="not a directory"):
        cache.get_reply("k")
    cache.close()
    assert target.read_text() == "user data"


def test_a_damaged_cache_stops_a_dry_run_too(tmp_path: Path, _isolated_env: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    _damage(_isolated_env, "random")
    args = ["run", "--base-url", "http://llm.test/v1", str(src), "--dry-run"]
    _one_line(CliRunner().invoke(cli, args), "cache clear")


def test_a_cache_on_read_only_media_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import diskcache

    from extractor.pipeline.cache import CacheError, ResponseCache

    def read_only(*_a: Any, **_k: Any) -> Any:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(diskcache, "Cache", read_only)
    cache = ResponseCache(tmp_path / "c")
    with pytest.raises(CacheError, match="give a writable --cache-dir, or --no-cache") as e:
        cache.get_reply("k")
    assert not e.value.damaged  # not for `cache clear` to wipe
    cache.close()
