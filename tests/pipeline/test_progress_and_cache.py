"""The progress bar, the summary, and the `cache` command."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import respx
from click.testing import CliRunner

from extractor.cli import cli
from extractor.pipeline.progress import Counters, Progress
from tests.cli.test_run import answer, invoke, papers, write_jsonl
from tests.support.shared import BASE_URL, models_list


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_done_cached_failed_tokens_rate_and_eta() -> None:
    counters = Counters(done=50, cached=20, failed=2, input_tokens=1_500_000, output_tokens=42_000)
    counters.started -= 10  # ten seconds in: 5 records/s
    screen = Terminal()
    bar = Progress(counters, total=100, enabled=True, stream=screen)
    bar.update(force=True)
    line = screen.getvalue()
    assert "50/100" in line and "cached 20" in line and "failed 2" in line
    assert "1.5M in / 42.0k out" in line
    assert "5.0/s" in line and "ETA 0:10" in line


def test_the_bar_is_silent_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = Progress(Counters(done=1), total=2, enabled=True, stream=stream)
    bar.update(force=True)
    bar.finish()
    assert stream.getvalue() == ""


def test_cache_stats_and_clear(tmp_path: Path, _isolated_env: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(3))
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/models").mock(return_value=models_list())
        mock.post("/chat/completions").mock(side_effect=answer)
        assert invoke(str(src), "-o", str(tmp_path / "out.jsonl")).exit_code == 0

    stats = CliRunner().invoke(cli, ["cache", "stats", "--json"])
    assert stats.exit_code == 0
    data: dict[str, Any] = json.loads(stats.stdout)
    assert data["entries"] == 3
    assert data["input_tokens"] == 360 and data["output_tokens"] == 120
    assert data["directory"] == str(_isolated_env)

    cleared = CliRunner().invoke(cli, ["cache", "clear", "--yes"])
    assert cleared.exit_code == 0 and "removed 3 entries" in cleared.stderr
    again = CliRunner().invoke(cli, ["cache", "stats", "--json"])
    assert json.loads(again.stdout)["entries"] == 0


def test_cache_clear_asks_first(_isolated_env: Path) -> None:
    result = CliRunner().invoke(cli, ["cache", "clear"], input="n\n")
    assert result.exit_code == 1  # aborted: nothing removed
