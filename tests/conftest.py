"""Shared test set-up: no real network, an isolated cache, a mocked endpoint, a backoff clock
that does not sleep (the helpers the tests import are in tests/support/)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest
import respx
import respx.mocks

from tests.support.shared import BASE_URL, models_list

# The remote client sends through aiohttp (`extractor.model.http_client`), below which
# respx's default mocker (httpcore) never sees a request; mock at httpx's client instead,
# above every transport.
respx.mocks.DEFAULT_MOCKER = "httpx"


class NetworkBlocked(RuntimeError):
    pass


def _loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return isinstance(address, (str, bytes))  # unix sockets


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection beyond loopback fails the test: tests never touch the network."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise NetworkBlocked(f"test tried a real network connection to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXTRACTOR_CACHE_DIR", str(cache))
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "EXTRACTOR_MODEL",
        "EXTRACTOR_CONCURRENCY",
        "EXTRACTOR_MODE",
    ):
        monkeypatch.delenv(var, raising=False)
    return cache


@pytest.fixture
def api() -> Any:
    """A mocked endpoint that lists its models; each test mocks the chat route it needs."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.get("/models").mock(return_value=models_list())
        yield mock


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Stand in for the backoff clock: record each wait instead of sleeping it."""
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("extractor.model.openai_call._sleep", fake_sleep)
    return waited
