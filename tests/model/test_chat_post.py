"""The chat completion POST below instructor: what it sends, what it reads, what it raises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from extractor.model.chat_post import ChatPost, completion_of, encode_body, status_error
from tests.cli.test_run import EMPTY, invoke, papers, read_jsonl, write_jsonl
from tests.support.shared import BASE_URL, completion


def _post(api_key: str = "sk-test") -> ChatPost:
    client = openai.AsyncOpenAI(api_key=api_key, base_url=BASE_URL, max_retries=0)
    return ChatPost(client, httpx.AsyncClient(), timeout=5.0)


async def test_it_sends_the_body_as_it_is_with_the_sdks_headers(api: Any) -> None:
    route = api.post("/chat/completions").mock(
        return_value=httpx.Response(200, json=completion(EMPTY))
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "hé \u2028"}], "n": 1}
    answer = await _post()(body)
    assert answer.choices[0].message.content == json.dumps(EMPTY)
    assert answer.usage is not None and answer.usage.prompt_tokens == 120
    sent = route.calls.last.request
    assert json.loads(sent.content) == body
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith("AsyncOpenAI/Python")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (409, openai.ConflictError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
        (418, openai.APIStatusError),
    ],
)
def test_error_statuses_raise_what_the_sdk_raises(status: int, kind: type[Exception]) -> None:
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions")
    body = {"error": {"message": "nope", "code": "insufficient_quota"}}
    response = httpx.Response(status, json=body, headers={"retry-after": "3"}, request=request)
    error = status_error(response)
    assert type(error) is kind
    assert error.status_code == status
    assert error.body == body["error"]  # the SDK keeps the inner object
    assert error.response.headers["retry-after"] == "3"  # for the transport retries


def test_a_non_json_error_body_keeps_its_text() -> None:
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions")
    error = status_error(httpx.Response(502, text="Bad gateway", request=request))
    assert isinstance(error, openai.InternalServerError) and "Bad gateway" in str(error)


async def test_timeouts_and_dropped_connections_raise_the_sdks_exceptions(api: Any) -> None:
    route = api.post("/chat/completions")
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(openai.APITimeoutError):
        await _post()({"model": "m"})
    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(openai.APIConnectionError):
        await _post()({"model": "m"})
    # whatever else the transport raises (aiohttp on a malformed answer): as the SDK does
    route.side_effect = ValueError("Content-Length: abc")
    with pytest.raises(openai.APIConnectionError):
        await _post()({"model": "m"})


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        ("ServerDisconnectedError", openai.APIConnectionError),
        ("ClientOSError", openai.APIConnectionError),
        ("ServerTimeoutError", openai.APITimeoutError),
        (None, openai.APITimeoutError),
    ],
)
async def test_a_dropped_connection_is_a_connection_error_not_a_timeout(
    cause: str | None, kind: type[Exception]
) -> None:
    import aiohttp

    # the aiohttp transport reports a server that hung up as httpx.ConnectTimeout
    def handler(request: httpx.Request) -> httpx.Response:
        error = httpx.ConnectTimeout("from the transport")
        error.__cause__ = getattr(aiohttp, cause)() if cause else None
        raise error

    client = openai.AsyncOpenAI(api_key="sk-test", base_url=BASE_URL, max_retries=0)
    post = ChatPost(client, httpx.AsyncClient(transport=httpx.MockTransport(handler)), 5.0)
    with pytest.raises(openai.APIConnectionError) as caught:
        await post({"model": "m"})
    assert type(caught.value) is kind


def test_a_loosely_shaped_answer_is_read_the_sdks_lenient_way() -> None:
    # a server of its own mind: no `created`, a finish reason OpenAI does not have
    body = completion(EMPTY)
    del body["created"]
    body["choices"][0]["finish_reason"] = "eos"
    answer = completion_of(httpx.Response(200, json=body))
    assert answer.choices[0].message.content == json.dumps(EMPTY)
    assert answer.choices[0].finish_reason == "eos"


def test_an_answer_that_is_not_json_is_an_api_error() -> None:
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions")
    with pytest.raises(openai.APIResponseValidationError):
        completion_of(httpx.Response(200, text="<html>proxy login</html>", request=request))


def test_a_lone_surrogate_goes_out_escaped_instead_of_failing() -> None:
    sent = encode_body({"messages": [{"content": "bad \ud800 text"}]})
    assert json.loads(sent) == {"messages": [{"content": "bad \ud800 text"}]}
    assert encode_body({"a": "é"}) == '{"a":"é"}'.encode()


def test_a_loose_server_still_gives_records_end_to_end(api: Any, tmp_path: Path) -> None:
    def loose(request: httpx.Request) -> httpx.Response:
        body = completion(EMPTY)
        body.pop("created")
        body.pop("object")
        return httpx.Response(200, json=body)

    api.post("/chat/completions").mock(side_effect=loose)
    src = write_jsonl(tmp_path / "in.jsonl", papers(2))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 2
