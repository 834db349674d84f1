"""What an endpoint can do, found by asking it: the engine of `extractor check`.

One cheap GET for reachability, the key and the model list; one tiny extraction per mode
through the very code `run` uses, with the messages and the call `run` would build for the
same settings (`extractor.pipeline.compose`: so "works" means `run` works); the same mode once more
with another tiny paper, to see whether the server reused the shared prompt prefix
(llama.cpp `timings.cache_n`, vLLM and OpenAI `usage.prompt_tokens_details.cached_tokens`);
and the context size where the server tells it (llama.cpp `/props`, vLLM `max_model_len`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import openai

from extractor.config import FALLBACK_ORDER, ModelConfig
from extractor.logs import redact_url, redact_urls
from extractor.model.call import CallError, FatalError, Messages
from extractor.model.openai_call import ModeUnsupportedError, OpenAICall

# The model call for some settings over some HTTP client (`compose.model_call`).
MakeCall = Callable[[ModelConfig, httpx.AsyncClient], OpenAICall]

# Two tiny papers: the second differs only after the shared prefix, as a run's next one does.
PAPERS = (
    ("FooNet: image classification", "We propose FooNet, reaching 81.5% accuracy on ImageNet."),
    ("BarNet: speech recognition", "We propose BarNet, reaching 5.1% word error rate on LibriSpeech."),
)  # fmt: skip
PROBE_MAX_TOKENS = 256


@dataclass
class ModeResult:
    mode: str
    supported: bool | None  # None: the probe could not tell (the endpoint failed otherwise)
    detail: str
    seconds: float


@dataclass
class CheckReport:
    base_url: str
    model: str
    reachable: bool = False
    reach_detail: str = ""
    key: str = ""
    key_ok: bool = True
    listed: bool | None = None
    served: bool | None = None
    model_detail: str = ""
    context: str = "not reported"
    modes: list[ModeResult] = field(default_factory=list)
    prefix_cache: str = "not checked"
    chosen: str | None = None

    @property
    def ok(self) -> bool:
        return self.reachable and self.key_ok and self.served is not False and bool(self.chosen)


class _RecordingClient(httpx.AsyncClient):
    """Keeps the last chat completion's JSON (its usage and llama.cpp's timings), whatever
    transport it went through."""

    body: dict[str, Any] | None = None

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = await super().send(request, **kwargs)
        if request.method == "POST":
            try:
                body = json.loads(await response.aread())
                self.body = body if isinstance(body, dict) else None
            except ValueError:
                self.body = None
        return response


async def check_endpoint(
    config: ModelConfig,
    messages: Sequence[Messages],
    make_call: MakeCall,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_tokens: int = PROBE_MAX_TOKENS,
) -> CheckReport:
    """Probe `config`'s endpoint; `config.mode` is the mode asked for (`auto`: any).
    `messages` are those of the two `PAPERS` as `run` would send them; `make_call` builds the
    call `run` uses. An answer cut off at `max_tokens` still shows that the server does what
    the mode asks."""
    base_url = config.base_url or "https://api.openai.com/v1"
    report = CheckReport(base_url=redact_url(base_url), model=config.model)
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    # trust_env=False: a loopback server's traffic must not go through an HTTP(S)_PROXY.
    local = (httpx.URL(base_url).host or "") in ("127.0.0.1", "localhost", "::1")
    async with _RecordingClient(
        transport=transport, headers=headers, timeout=config.timeout, trust_env=not local
    ) as client:
        await _check_models(client, base_url, config, report)
        if not report.reachable or not report.key_ok:
            return report
        await _check_context(client, base_url, report)
        probe = replace(config, max_reasks=0, max_retries=1, max_tokens=max_tokens)
        wanted = FALLBACK_ORDER if config.mode == "auto" else (config.mode,)
        for mode in FALLBACK_ORDER:
            result = await _probe_mode(make_call(replace(probe, mode=mode), client), messages[0])
            report.modes.append(result)
            if result.supported is None and result.detail.startswith("model "):
                report.served = False
                report.model_detail = result.detail
                return report
            if result.supported and report.chosen is None and mode in wanted:
                report.chosen = mode
        if report.served is None:
            report.served = any(r.supported is not None for r in report.modes)
        if report.chosen is not None:
            call = make_call(replace(probe, mode=report.chosen), client)
            report.prefix_cache = await _check_prefix_cache(call, messages[1], client)
    return report


async def _check_models(
    client: httpx.AsyncClient, base_url: str, config: ModelConfig, report: CheckReport
) -> None:
    started = time.monotonic()
    try:
        response = await client.get(base_url.rstrip("/") + "/models")
    except httpx.HTTPError as e:
        report.reach_detail = f"no: {type(e).__name__} ({_short(str(e))})"
        return
    ms = (time.monotonic() - started) * 1000
    report.reachable = True
    report.reach_detail = f"yes (GET /models: HTTP {response.status_code}, {ms:.0f} ms)"
    sent = "sent" if config.api_key else "none sent"
    if response.status_code in (401, 403):
        report.key_ok = False
        report.key = f"rejected (HTTP {response.status_code}); check OPENAI_API_KEY"
        return
    report.key = f"accepted ({sent})"
    if response.status_code != 200:
        report.model_detail = f"/models answers HTTP {response.status_code}: the chat probes decide"
        return
    try:
        data = response.json().get("data") or []
    except (ValueError, AttributeError):
        data = []
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    report.listed = config.model in ids
    entry = next((m for m in data if isinstance(m, dict) and m.get("id") == config.model), None)
    if report.listed:
        report.model_detail = "listed by /models"
    else:
        shown = ", ".join(str(i) for i in ids[:5]) + (" ..." if len(ids) > 5 else "")
        report.model_detail = f"not listed by /models ({shown or 'empty'}): the chat probes decide"
    if entry is not None:
        for key, source in (("max_model_len", "vLLM max_model_len"), ("context_length", "context_length")):  # fmt: skip
            if isinstance(entry.get(key), int):
                report.context = f"{entry[key]} tokens ({source} in /models)"
        meta = entry.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("n_ctx"), int):
            report.context = f"{meta['n_ctx']} tokens (llama.cpp meta.n_ctx in /models)"


async def _check_context(client: httpx.AsyncClient, base_url: str, report: CheckReport) -> None:
    """llama.cpp's /props gives the context of one slot: what one request can use."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        response = await client.get(root + "/props", timeout=5.0)
        settings = response.json().get("default_generation_settings", {})
        slots = response.json().get("total_slots")
    except (httpx.HTTPError, ValueError, AttributeError):
        return
    if response.status_code == 200 and isinstance(settings.get("n_ctx"), int):
        per = f", {slots} slot{'s' if slots != 1 else ''}" if isinstance(slots, int) else ""
        report.context = f"{settings['n_ctx']} tokens per request (llama.cpp /props{per})"


async def _probe_mode(call: OpenAICall, messages: Messages) -> ModeResult:
    config = call.config
    call._checked = True  # /models was asked already
    started = time.monotonic()
    try:
        reply = await call(messages)
    except ModeUnsupportedError as e:
        return ModeResult(config.mode, False, f"unsupported: {e.reason}", _since(started))
    except CallError as e:
        # The server did what the mode asks; the tiny answer itself was not valid.
        seconds = _since(started)
        if e.type in ("invalid_output", "output_truncated"):
            what = "cut off" if e.type == "output_truncated" else "not valid"
            return ModeResult(config.mode, True, f"works (this answer {what})", seconds)
        return ModeResult(config.mode, None, f"failed: {e.type}: {_short(e.message)}", seconds)
    except FatalError as e:
        seconds = _since(started)
        text = str(e)
        if "does not serve model" in text:
            return ModeResult(config.mode, None, f"model not served: {text}", seconds)
        return ModeResult(config.mode, None, f"failed: {_short(text)}", seconds)
    except openai.OpenAIError as e:  # pragma: no cover - classified above in practice
        return ModeResult(config.mode, None, f"failed: {_short(str(e))}", _since(started))
    extra = "" if reply.attempts == 1 else f", {reply.attempts} requests"
    return ModeResult(config.mode, True, f"works (valid answer{extra})", _since(started))


async def _check_prefix_cache(
    call: OpenAICall, messages: Messages, client: _RecordingClient
) -> str:
    call._checked = True
    client.body = None
    with contextlib.suppress(CallError, FatalError):  # its usage counts, valid or not
        await call(messages)
    body: dict[str, Any] = client.body or {}
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    prompt_tokens = usage.get("prompt_tokens")
    timings = body.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("cache_n"), int):
        n = timings["cache_n"]
        return _cached(n, prompt_tokens, "llama.cpp timings.cache_n")
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
        return _cached(details["cached_tokens"], prompt_tokens, "usage.prompt_tokens_details")
    return "unknown: the server reports no cached tokens"


def _cached(n: int, total: Any, source: str) -> str:
    of = f" of {total}" if isinstance(total, int) else ""
    verdict = "yes" if n > 0 else "no"
    return f"{verdict}: {n}{of} prompt tokens reused on the next paper ({source})"


def _since(started: float) -> float:
    return time.monotonic() - started


def _short(text: str, limit: int = 160) -> str:
    """One line of an error, fit to show: no credentials a URL carried."""
    text = " ".join(redact_urls(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
