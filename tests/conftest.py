"""Shared test set-up: no real network, an isolated cache, and OpenAI-style replies to queue."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import respx.mocks

# The remote client sends through aiohttp (`extractor.model.http_client`), below which
# respx's default mocker (httpcore) never sees a request; mock at httpx's client instead,
# above every transport.
respx.mocks.DEFAULT_MOCKER = "httpx"

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():  # CI clones main with shared/ beside it; a checkout elsewhere may set it
    SHARED = Path(__file__).resolve().parents[1] / "shared"
SEEDS = sorted((SHARED / "seeds").glob("*.txt"))
GOLD = SHARED / "gold" / "dev.jsonl"
BASE_URL = "http://llm.test/v1"


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


def completion(
    content: dict[str, Any] | str,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 120,
    completion_tokens: int = 40,
    model: str = "test-model",
) -> dict[str, Any]:
    """The body an OpenAI-compatible server sends for one chat completion."""
    text = content if isinstance(content, str) else json.dumps(content)
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def reply(content: dict[str, Any] | str, status: int = 200, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, json=completion(content, **kwargs))


def models_list() -> httpx.Response:
    return httpx.Response(
        200, json={"object": "list", "data": [{"id": "test-model", "object": "model"}]}
    )


def sent_paper(request: httpx.Request) -> str:
    """The paper a chat request asks about (the last message holding one: re-asks come after it)."""
    body = json.loads(request.content)
    papers = [m["content"] for m in body["messages"] if "<paper>" in str(m.get("content"))]
    return str(papers[-1])


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
