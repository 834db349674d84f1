"""What reaches the terminal is ours: under a faulty endpoint, `-q` prints nothing and the
libraries' loggers (instructor, openai, httpx, tenacity) print nothing unless `-v` asks."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.logs import LIBRARY_LOGGERS, configure
from tests.cli.test_run import EMPTY, extraction_for, papers, read_jsonl, write_jsonl
from tests.support.shared import BASE_URL, models_list, reply, sent_paper

SECRET = "sk-test-quiet-5f2a9c1e7b3d"
LIBRARY_MARKERS = ("API call failed", "Max retries exceeded", "Traceback", "validation error", "HTTP Request:", "[instructor", "[openai", "[httpx]")  # fmt: skip


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr("extractor.model.openai_call._sleep", fake_sleep)


@pytest.fixture(autouse=True)
def restore_logging() -> Any:
    yield
    configure(verbose=False)


def faulty() -> Any:
    """About a third of requests fail: 429, 5xx, timeouts, malformed and invalid JSON."""
    kinds = itertools.cycle(
        ["ok", "429", "ok", "500", "ok", "timeout", "ok", "malformed", "ok", "invalid", "503", "ok"]
    )

    def side_effect(request: httpx.Request) -> httpx.Response:
        kind = next(kinds)
        if kind == "429":
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"message": f"slow down {SECRET}"}})  # fmt: skip
        if kind in ("500", "503"):
            return httpx.Response(int(kind), json={"error": {"message": f"oops, key {SECRET}"}})
        if kind == "timeout":
            raise httpx.ReadTimeout("Request timed out.")
        if kind == "malformed":
            return reply('{"models": [{"name": "Foo", ')
        if kind == "invalid":
            return reply({**EMPTY, "models": [{"name": "FooNet0", "role": "boss", "x": "y\nz"}]})
        return reply(extraction_for(sent_paper(request)))

    return side_effect


def run_faulty(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    src = write_jsonl(tmp_path / "in.jsonl", papers(60))
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.post("/chat/completions").mock(side_effect=faulty())
        return CliRunner().invoke(
            cli,
            ["run", str(src), "-o", str(tmp_path / "out.jsonl"), "--base-url", BASE_URL,
             "--retries", "1", "--reasks", "1", "-c", "8", *args],
            env={"OPENAI_API_KEY": SECRET, **(env or {})},
        )  # fmt: skip


def test_quiet_under_a_faulty_endpoint_prints_nothing(tmp_path: Path) -> None:
    result = run_faulty(tmp_path, "-q")
    assert result.exit_code in (0, 3), result.stderr
    assert result.stderr == ""
    assert result.stdout == ""
    written = read_jsonl(tmp_path / "out.jsonl")
    failed = read_jsonl(tmp_path / "out.errors.jsonl") if result.exit_code == 3 else []
    assert len(written) + len(failed) == 60 and written


def test_without_quiet_only_our_lines_reach_the_terminal(tmp_path: Path) -> None:
    result = run_faulty(tmp_path)
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("extractor: ") for line in lines), lines
    assert not any(marker in result.stderr for marker in LIBRARY_MARKERS)
    assert "records (" in lines[-1]  # the summary, last


@pytest.mark.parametrize("how", ["flag", "env"])
def test_verbose_shows_library_detail_with_the_key_redacted(tmp_path: Path, how: str) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    echo = httpx.Response(500, json={"error": {"message": f"bad key {SECRET} (sk-proj-****wxyz)"}})
    args = ["-v"] if how == "flag" else []
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.post("/chat/completions").mock(return_value=echo)
        result = CliRunner().invoke(
            cli,
            ["run", str(src), "-o", str(tmp_path / "out.jsonl"), "--base-url", BASE_URL,
             "--retries", "0", "-q", *args],
            env={"OPENAI_API_KEY": SECRET, **({"EXTRACTOR_VERBOSE": "1"} if how == "env" else {})},
        )  # fmt: skip
    assert result.exit_code == 3
    assert "[instructor" in result.stderr and "API call failed" in result.stderr
    assert "[httpx] INFO HTTP Request: POST" in result.stderr
    assert SECRET not in result.stderr and "sk-proj" not in result.stderr
    assert "bad key [REDACTED]" in result.stderr


def test_library_loggers_are_silent_by_default_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "a", "extraction": EMPTY}) + "\n")
    CliRunner().invoke(cli, ["schema"])  # any command configures the loggers
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).error("library noise %s", name)
    logging.getLogger("instructor.v2.core.retry").error("deeper library noise")
    captured = capsys.readouterr()
    assert "noise" not in captured.err and "noise" not in captured.out
