"""What the tests share: the shared/ data (seeds, the gold dev set) and a fake
OpenAI-compatible endpoint's answers (a chat completion, the model list, the paper a
request asks about)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

SHARED = Path(__file__).resolve().parents[3] / "shared"
if not SHARED.exists():  # CI clones main with shared/ beside it; a checkout elsewhere may set it
    SHARED = Path(__file__).resolve().parents[2] / "shared"
SEEDS = sorted((SHARED / "seeds").glob("*.txt"))
GOLD = SHARED / "gold" / "dev.jsonl"
BASE_URL = "http://llm.test/v1"


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


def interruptible() -> None:
    """`preexec_fn` for a run a test sends Ctrl-C to: SIGINT as a terminal delivers it. A
    process started in the background by a shell (`cmd &`, nohup) ignores SIGINT, and its
    children inherit that; Python then installs no KeyboardInterrupt handler, so the run the
    test interrupts would never hear it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
