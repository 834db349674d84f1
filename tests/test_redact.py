"""Credentials a base URL carries (`user:PASSWORD@`, `?api_key=`) are shown nowhere: not in
`run`'s errors, not in `check`'s table, not in the `-v` log, the errors file or the cache."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from extractor.cli import cli
from extractor.logs import redact, redact_url, redact_urls
from tests.cli.test_run import answer, papers, write_jsonl
from tests.support.shared import models_list

SECRET_URL = "http://alice:PASSWORD@llm.test/v1?api_key=TOKEN"
SECRETS = ("PASSWORD", "TOKEN")


def shown(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_a_url_keeps_where_it_points_and_loses_its_credentials() -> None:
    assert redact_url("https://user:pw@host:8443/v1") == "https://user:[REDACTED]@host:8443/v1"
    assert redact_url("https://tok123@host/v1") == "https://[REDACTED]@host/v1"
    assert redact_url("http://h/v1?api_key=k&api-version=2024-06-01&access_token=t#frag") == (
        "http://h/v1?api_key=[REDACTED]&api-version=2024-06-01&access_token=[REDACTED]#frag"
    )
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"
    assert redact_urls(f"cannot reach the endpoint at {SECRET_URL} (refused)") == (
        "cannot reach the endpoint at "
        "http://alice:[REDACTED]@llm.test/v1?api_key=[REDACTED] (refused)"
    )
    assert "PASSWORD" not in redact(f"POST {SECRET_URL}/chat/completions", None)


@given(password=st.text("abcdefXYZ0123456789-_.~%!$&'*+,;=", min_size=1, max_size=30))
def test_no_password_survives_redaction(password: str) -> None:
    url = f"https://user:{password}@host.example/v1"
    assert (
        redact_urls(f"error at {url} now") == "error at https://user:[REDACTED]@host.example/v1 now"
    )


def _unreachable(mock: respx.MockRouter) -> None:
    mock.route(host="llm.test").mock(side_effect=httpx.ConnectError("connection refused"))


def test_cannot_reach_the_endpoint_shows_no_credentials(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    with respx.mock(assert_all_called=False) as mock:
        _unreachable(mock)
        result = CliRunner().invoke(
            cli, ["run", str(src), "-o", str(tmp_path / "out.jsonl"), "--base-url", SECRET_URL]
        )
    assert result.exit_code == 2
    assert "cannot reach the endpoint" in result.stderr and "llm.test" in result.stderr
    shown(result.stderr)


@pytest.mark.parametrize("reachable", [True, False])
def test_check_shows_the_endpoint_without_credentials(reachable: bool) -> None:
    with respx.mock(assert_all_called=False) as mock:
        if reachable:
            mock.get(url__regex=r".*/models.*").mock(return_value=models_list())
            mock.route(host="llm.test").mock(return_value=httpx.Response(500, text=SECRET_URL))
        else:
            _unreachable(mock)
        result = CliRunner().invoke(cli, ["check", "--base-url", SECRET_URL, "-m", "test-model"])
    assert "llm.test" in result.output
    shown(result.output)


def test_the_verbose_log_the_errors_file_and_the_cache_hold_no_credentials(
    tmp_path: Path,
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache"
    echoed = httpx.Response(400, json={"error": {"message": f"bad request to {SECRET_URL}"}})

    def chat(request: httpx.Request) -> httpx.Response:
        return echoed if "FooNet1" in request.content.decode() else answer(request)

    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=r".*/models.*").mock(return_value=models_list())
        mock.post(url__regex=r".*/chat/completions.*").mock(side_effect=chat)
        result = CliRunner().invoke(
            cli,
            ["run", str(src), "-o", str(out), "--base-url", SECRET_URL, "-v", "-m", "test-model",
             "--cache-dir", str(cache)],
        )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    shown(result.stderr)
    errors = (tmp_path / "out.errors.jsonl").read_text()
    assert "bad request to http://alice:[REDACTED]@llm.test" in errors
    shown(errors)
    shown(out.read_text())
    for path in cache.rglob("*"):
        if path.is_file():
            shown(path.read_bytes().decode("latin-1"))


def test_a_query_token_never_enters_a_cache_key() -> None:
    from extractor.pipeline.cache import url_endpoint

    assert url_endpoint(SECRET_URL) == "url:http://llm.test/v1"
    assert json.dumps(url_endpoint(SECRET_URL)).count("TOKEN") == 0
