"""The remote client as it runs: aiohttp's pool under httpx, against a real local server
(`bench/fake_openai.py` on loopback), and the proxies the environment names."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from extractor.model.http_client import RateLimitedClient, remote_client
from tests.cli.test_run import invoke, papers, write_jsonl
from tests.cli.test_trust import _start_fake, _stop


def test_a_run_and_its_rerun_through_the_real_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No respx here: requests go over loopback sockets through aiohttp, as in production.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    proc, url = _start_fake()
    try:
        src = write_jsonl(tmp_path / "in.jsonl", papers(40))
        first = invoke(
            str(src), "--base-url", url, "-m", "bench", "-c", "16", "-o", str(tmp_path / "a.jsonl")
        )
        assert first.exit_code == 0, first.stderr
        assert "40 records (0 cached, 0 failed)" in first.stderr
        again = invoke(str(src), "--base-url", url, "-m", "bench", "-o", str(tmp_path / "b.jsonl"))
        assert again.exit_code == 0 and "40 records (40 cached, 0 failed)" in again.stderr
    finally:
        _stop(proc)
    records = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["title"] for r in records] == [p["title"] for p in papers(40)]
    assert all(r["meta"]["input_tokens"] == 900 for r in records)  # the server's usage


def test_the_remote_client_pools_on_aiohttp_and_follows_proxy_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    client = remote_client(64)
    assert isinstance(client, RateLimitedClient)
    direct = client._transport_for_url(httpx.URL("http://localhost:8000/v1"))
    proxied = client._transport_for_url(httpx.URL("https://api.openai.com/v1"))
    assert isinstance(direct, AiohttpTransport) and direct.proxy is None
    assert isinstance(proxied, AiohttpTransport)
    assert proxied.proxy is not None and proxied.proxy.url.host == "proxy.example"
    assert direct.limits.max_connections == 66  # one a request in flight, and the preflight
