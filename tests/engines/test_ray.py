"""`extractor run --engine ray` on a local two-CPU Ray against bench/fake_openai.py.

One Ray for the whole session (the engine uses a running Ray); small inputs. Faults are
injected where a real run meets them: HTTP 500s from the endpoint, a batch whose processing
raises, an actor process that dies. Each is made to happen once by a marker file that the
first worker to get there creates, so the tests are deterministic whatever Ray schedules.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.api import Extractor
from extractor.cli import cli
from extractor.core.paper import Paper
from tests.cli.test_run import papers, read_jsonl, write_jsonl

ray = pytest.importorskip("ray")
from extractor.engines.ray import ExtractBatches  # noqa: E402 - needs ray

pytestmark = pytest.mark.ray
FAKE = Path(__file__).resolve().parents[2] / "bench" / "fake_openai.py"

# The actor subclasses below travel to the workers by value, whatever their sys.path.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@contextlib.contextmanager
def fake_server(*args: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", "--latency", "0.005", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[-1]
    finally:
        proc.kill()
        proc.wait()


def inputs(tmp_path: Path) -> list[str]:
    """Two files, 14 distinct papers, a duplicate within and across files."""
    rows = papers(14)
    a = write_jsonl(tmp_path / "a.jsonl", [*rows[:8], rows[2]])
    b = write_jsonl(tmp_path / "b.jsonl", [rows[5], *rows[8:]])
    return [str(a), str(b)]


def run(*args: str, url: str, cache: Path) -> Any:
    return CliRunner().invoke(
        cli,
        ["run", "--base-url", url, "-q", *args],
        env={"EXTRACTOR_CACHE_DIR": str(cache)},
        catch_exceptions=False,
    )


def shard_runs(out: Path) -> list[Path]:
    return sorted((Path(f"{out}.ray") / "shards").iterdir())


def shard_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(run_dir.iterdir()) for line in f.open()]


def test_ray_writes_the_same_records_as_a_plain_run_and_a_rerun_sends_nothing(
    local_ray: None, tmp_path: Path
) -> None:
    src = inputs(tmp_path)
    plain, out = tmp_path / "plain.jsonl", tmp_path / "ray.jsonl"
    with fake_server() as url:
        assert run(*src, "-o", str(plain), url=url, cache=tmp_path / "c1").exit_code == 0
        result = run(*src, "-o", str(out), "--engine", "ray", url=url, cache=tmp_path / "c2")
        assert result.exit_code == 0, result.output
    assert out.read_bytes() == plain.read_bytes()
    records = read_jsonl(out)
    assert len(records) == 14 and len({r["id"] for r in records}) == 14
    assert [r["source"]["path"] for r in records] == [src[0]] * 8 + [src[1]] * 6
    assert not (tmp_path / "ray.errors.jsonl").exists()
    # The endpoint is gone: a rerun that sent anything would fail. It finds every id done.
    again = run(*src, "-o", str(out), "--engine", "ray", url=url, cache=tmp_path / "c3")
    assert again.exit_code == 0, again.output
    assert out.read_bytes() == plain.read_bytes()
    assert len(shard_runs(out)) == 1  # no new shards: nothing was sent


class RaisesOnce(ExtractBatches):
    """The first batch to get here raises, as a bug in the worker would."""

    markers = ""  # set by the test; the class travels by value, with it

    def extract(self, papers: list[Paper], extractor: Extractor) -> list[dict[str, Any]]:
        marker = Path(self.markers) / "raised"
        with contextlib.suppress(FileExistsError):
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            raise RuntimeError("injected worker fault")
        return super().extract(papers, extractor)


class DiesOnce(ExtractBatches):
    """The first batch to get here kills its actor's process."""

    markers = ""

    def extract(self, papers: list[Paper], extractor: Extractor) -> list[dict[str, Any]]:
        marker = Path(self.markers) / "died"
        with contextlib.suppress(FileExistsError):
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            os._exit(1)
        return super().extract(papers, extractor)


def run_ray_api(src: list[str], out: Path, url: str, tmp_path: Path, **kwargs: Any) -> Any:
    from extractor.api import build_config
    from extractor.engines.ray import run_ray

    retries = kwargs.pop("retries", None)
    config = build_config(
        src, output=str(out), base_url=url, cache_dir=tmp_path / "cache", retries=retries
    )
    return run_ray(config, actors=2, batch_size=4, **kwargs)


def expected_ids(src: list[str]) -> list[str]:
    seen: list[str] = []
    for path in src:
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            from extractor.core.paper import paper_id

            pid = paper_id(row["title"], row["abstract"])
            if pid not in seen:
                seen.append(pid)
    return seen


def test_a_500_storm_and_a_raising_worker_lose_nothing_and_duplicate_nothing(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = inputs(tmp_path)
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(RaisesOnce, "markers", str(tmp_path))
    with fake_server("--fail-after", "4", "--fail-count", "6") as url:
        summary = run_ray_api(src, out, url, tmp_path, actor=RaisesOnce)
    assert (tmp_path / "raised").exists()
    records = read_jsonl(out)
    assert [r["id"] for r in records] == expected_ids(src)
    assert summary.written == 14 and summary.failed == 0
    assert sum(r["meta"]["attempts"] for r in records) >= 14 + 6  # the storm was retried through
    assert not (tmp_path / "out.errors.jsonl").exists()


def test_a_dying_actor_is_restarted_and_its_batch_rerun(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = inputs(tmp_path)
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(DiesOnce, "markers", str(tmp_path))
    with fake_server() as url:
        summary = run_ray_api(src, out, url, tmp_path, actor=DiesOnce)
    assert (tmp_path / "died").exists()
    assert [r["id"] for r in read_jsonl(out)] == expected_ids(src)
    assert summary.failed == 0


def test_failed_records_go_to_the_errors_file_and_the_rerun_sends_only_those(
    local_ray: None, tmp_path: Path
) -> None:
    src = inputs(tmp_path)
    out = tmp_path / "out.jsonl"
    with fake_server("--fail-after", "3", "--fail-count", "5") as url:
        first = run(*src, "-o", str(out), "--engine", "ray", "--retries", "0", url=url,
                    cache=tmp_path / "c")  # fmt: skip
    assert first.exit_code == 3, first.output
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert len(errors) == 5 and {e["error"]["type"] for e in errors} == {"http_error"}
    done = read_jsonl(out)
    assert len(done) == 9 and not {r["id"] for r in done} & {e["id"] for e in errors}
    with fake_server() as url:
        again = run(*src, "-o", str(out), "--engine", "ray", "--retries", "0", url=url,
                    cache=tmp_path / "c")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert [r["id"] for r in read_jsonl(out)] == expected_ids(src)
    assert not (tmp_path / "out.errors.jsonl").exists()
    _, second_run = shard_runs(out)  # run directories sort in the order they ran
    assert sorted(r["id"] for r in shard_rows(second_run)) == sorted(e["id"] for e in errors)
