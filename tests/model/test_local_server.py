"""The embedded llama.cpp server: settings, clear errors, and (marker local_model) the real one
with the tiny SmolLM2 model, spoken to through the same OpenAI client as any endpoint."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import openai
import pytest

from extractor.model.local import (
    TINY_MODEL,
    BackendMissingError,
    LocalServer,
    ModelCorruptError,
    NotEnoughMemoryError,
    ServerStartError,
    check_memory,
    default_threads,
    local_endpoint,
    resolve,
)


@pytest.fixture(scope="module")
def tiny_path() -> Path:
    return resolve(f"local:{TINY_MODEL}")


def test_not_enough_memory_names_both_figures(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(NotEnoughMemoryError, match=r"about 1\.1 GB needed, 0\.5 GB available"):
        check_memory(model, available=500_000_000)
    check_memory(model, available=64 << 30)


def test_missing_backend_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # import now raises ImportError
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(BackendMissingError, match="pip install xllamacpp"):
        LocalServer(model).start()


def test_a_non_gguf_file_never_reaches_llama_cpp(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"<html>")
    with pytest.raises(ModelCorruptError, match="not a GGUF model file"):
        LocalServer(model).start()


def test_base_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="not running"):
        _ = LocalServer(tmp_path / "m.gguf").base_url


def test_settings_map_onto_llama_cpp_params(tiny_path: Path) -> None:
    import xllamacpp

    server = LocalServer(tiny_path, alias="local:tiny", ctx_size=4096, parallel=2, threads=3)
    p = server._params(xllamacpp)
    assert p.n_ctx == 8192  # llama.cpp splits n_ctx across the slots: 4096 each
    assert p.n_parallel == 2
    assert p.cpuparams.n_threads == p.cpuparams_batch.n_threads == 3
    assert p.hostnames == ["127.0.0.1"] and p.port == 0
    assert p.cache_prompt and p.n_cache_reuse > 0
    assert p.cors_origins == "" and p.api_keys == []
    assert p.model_alias == {"local:tiny"}
    assert LocalServer(tiny_path).threads == default_threads() >= 1


# --- the real server, tiny model -------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "languages": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "age", "languages"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tiny_server(tiny_path: Path) -> Iterator[LocalServer]:
    with LocalServer(tiny_path, alias="local:smollm2-135m", ctx_size=2048) as server:
        yield server


def _port_open(base_url: str) -> bool:
    url = urlparse(base_url)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((url.hostname, url.port)) == 0


@pytest.mark.local_model
async def test_real_server_answers_json_schema_through_the_openai_client(
    tiny_server: LocalServer,
) -> None:
    assert tiny_server.base_url.startswith("http://127.0.0.1:")
    client = openai.AsyncOpenAI(base_url=tiny_server.base_url, api_key="sk-local", max_retries=0)
    resp = await client.chat.completions.create(
        model="local:smollm2-135m",
        messages=[
            {"role": "system", "content": "Answer with JSON only."},
            {"role": "user", "content": "Ada is 36 and writes Python and C. Describe her."},
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
        temperature=0,
        max_tokens=96,
    )
    await client.close()
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    data = json.loads(choice.message.content or "")
    assert set(data) == {"name", "age", "languages"}
    assert isinstance(data["age"], int) and isinstance(data["languages"], list)
    assert resp.usage is not None and resp.usage.completion_tokens > 0


def _refused(resp: httpx.Response) -> bool:
    """A browser hands a cross-origin response to the page only when Access-Control-Allow-Origin
    names its origin or "*" (and "null" matches sandboxed frames and file:// pages)."""
    allowed = resp.headers.get("access-control-allow-origin")
    return resp.status_code == 403 or allowed is None or allowed.strip() == ""


@pytest.mark.local_model
@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_real_server_refuses_browser_origins(tiny_server: LocalServer, origin: str) -> None:
    # What a web page open during a run could do: read /models (a simple request), and send
    # the preflight a JSON POST to /chat/completions needs first.
    read = httpx.get(f"{tiny_server.base_url}/models", headers={"Origin": origin}, trust_env=False)
    preflight = httpx.options(
        f"{tiny_server.base_url}/chat/completions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
        trust_env=False,
    )
    assert _refused(read), read.headers
    assert _refused(preflight), preflight.headers


@pytest.mark.local_model
def test_required_key_is_enforced_and_server_stops_on_exit(tiny_path: Path) -> None:
    with LocalServer(tiny_path, ctx_size=512, api_key="sk-secret") as server:
        base_url = server.base_url
        client = openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        ok = openai.OpenAI(base_url=base_url, api_key=server.api_key, max_retries=0)
        assert ok.models.list().data
    assert not server.running
    assert not _port_open(base_url)


@pytest.mark.local_model
def test_ctrl_c_inside_the_block_stops_the_server(tiny_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), local_endpoint(f"{tiny_path}", ctx_size=512) as url:
        assert _port_open(url)
        raise KeyboardInterrupt
    assert not _port_open(url)


@pytest.mark.local_model
def test_a_truncated_gguf_is_a_clear_start_error(tiny_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_path.read_bytes()[: 1 << 20])
    with pytest.raises(ServerStartError, match=r"could not load .*broken\.gguf"):
        LocalServer(broken, ctx_size=512).start()
