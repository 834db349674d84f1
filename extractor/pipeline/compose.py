"""The composition root: every part a run needs, built from one resolved `RunConfig`.

`extractor run` (and `extractor.run`), `extractor check`, the library API (`Extractor`), the
Ray actors and the batch path all take their parts from here, so for the same settings they
send the same requests: the model call (the only place an `OpenAICall` is made), who answers
(the cache's endpoint identity), the price, the rate limiter, the response cache, the stages
and the pipeline. The settings themselves (defaults: no key and no URL means the embedded
model, its compact prompt and `rule` results, its timeout) are resolved once, by
`extractor.api.build_config`; what follows from them is resolved here.

Nothing here imports an SDK at import time: a run answered from the cache builds its call
lazily (`LazyCall`) and never pays for one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from extractor.config import LOCAL_SLOTS, ModelConfig, RunConfig
from extractor.model.call import LazyCall, Messages, ModelCall

if TYPE_CHECKING:
    import asyncio

    import httpx
    import openai

    from extractor.model.ratelimit import RateLimiter
    from extractor.pipeline.batch import RequestBodies
    from extractor.pipeline.cache import ResponseCache
    from extractor.pipeline.pricing import Price
    from extractor.pipeline.stages import Stages
    from extractor.pipeline.window import Pipeline

Notice = Callable[[str], None]


def is_local(config: RunConfig | ModelConfig) -> bool:
    """The embedded llama.cpp model (`local:NAME`, `local:/path.gguf`)."""
    model = config.model if isinstance(config, RunConfig) else config
    return model.model.startswith("local:")


def effective(config: RunConfig) -> RunConfig:
    """The settings a run really uses: a local model keeps at most `LOCAL_SLOTS` requests in
    flight (the embedded server answers that many at a time; more would only queue inside it,
    with their timeouts running, and retry when those expire). `config` is not changed."""
    if is_local(config) and config.concurrency > LOCAL_SLOTS:
        return dataclasses.replace(config, concurrency=LOCAL_SLOTS)
    return config


def endpoint_identity(config: RunConfig) -> str | None:
    """Who answers, for the cache key, when it is not the base URL: the local model's file
    (raises `LocalModelError` when it cannot be found). None: the normalized base URL."""
    if is_local(config) and config.use_cache:
        from extractor.model.local import model_identity

        return model_identity(config.model.model)
    return None


def price(config: RunConfig) -> Price | None:
    """The run's price per token (None: unknown); raises `PriceError` on bad price options."""
    from extractor.pipeline.pricing import resolve_price

    scale = config.scale
    return resolve_price(
        config.model.model,
        price_in=scale.price_in,
        price_out=scale.price_out,
        prices_file=scale.prices_file,
    )


def limiter(config: RunConfig) -> RateLimiter | None:
    """The remote endpoint's pace (`--rpm`, `--tpm`, and what its headers say); the embedded
    model gets none: its slots are its limit."""
    if is_local(config):
        return None
    from extractor.model.ratelimit import RateLimiter

    scale = config.scale
    return RateLimiter(rpm=scale.rpm, tpm=scale.tpm, concurrency=config.concurrency)


def share_limits(config: RunConfig, parts: int) -> RunConfig:
    """The settings of one of `parts` processes that each pace their own requests (Ray
    actors): each gets its share of `--rpm` and `--tpm`, so that together they keep to them."""
    scale = config.scale
    if parts <= 1 or (scale.rpm is None and scale.tpm is None):
        return config
    shared = dataclasses.replace(
        scale,
        rpm=None if scale.rpm is None else scale.rpm / parts,
        tpm=None if scale.tpm is None else scale.tpm / parts,
    )
    return dataclasses.replace(config, scale=shared)


def model_call(
    model: ModelConfig,
    *,
    http_client: httpx.AsyncClient | None = None,
    notice: Notice | None = None,
) -> Any:
    """The model call for these settings over this HTTP client: an `OpenAICall` (the one
    place one is made). `notice` receives one line when `--mode auto` falls back."""
    from extractor.model.openai_call import OpenAICall

    return OpenAICall(model, http_client=http_client, notice=notice)


def call_factory(
    config: RunConfig,
    stack: contextlib.ExitStack,
    *,
    pace: RateLimiter | None = None,
    notice: Notice | None = None,
) -> Callable[[], ModelCall]:
    """The run's call, built on first use: a run answered from the cache imports no SDK and
    starts no local server. The embedded server (started on `stack`) gets one slot per
    request in flight; a remote endpoint's requests go through `pace` and aiohttp's
    connection pool, and its client serves answers a batch already obtained. `config` is not
    changed: the local server's address goes into a copy of the model settings."""

    def factory() -> ModelCall:
        if is_local(config):
            import httpx

            from extractor.model import local

            # One slot per request in flight (capped at LOCAL_SLOTS): llama.cpp serves each
            # slot with its share of the context, and a request never waits for a slot, so
            # waiting never counts against its timeout.
            endpoint = local.local_endpoint(config.model.model, parallel=config.concurrency)
            model = dataclasses.replace(config.model, base_url=stack.enter_context(endpoint))
            # HTTP(S)_PROXY must not capture the loopback server: its traffic stays on the machine.
            client = httpx.AsyncClient(trust_env=False)
            return model_call(model, http_client=client, notice=notice)  # type: ignore[no-any-return]
        from extractor.model.http_client import remote_client

        # offline results (--batch-results) need no server
        stub = config.scale.batch_results is not None
        client = remote_client(config.concurrency, pace, stub_models=stub)
        return model_call(config.model, http_client=client, notice=notice)  # type: ignore[no-any-return]

    return factory


def lazy_call(
    config: RunConfig,
    stack: contextlib.ExitStack,
    *,
    pace: RateLimiter | None = None,
    notice: Notice | None = None,
) -> LazyCall:
    return LazyCall(call_factory(config, stack, pace=pace, notice=notice))


def open_cache(config: RunConfig) -> ResponseCache | None:
    """The response cache of the run (None with `--no-cache`); the caller closes it."""
    if not config.use_cache:
        return None
    from extractor.pipeline.cache import ResponseCache

    return ResponseCache(config.cache_dir)


def stages(config: RunConfig, endpoint: str | None = None) -> Stages:
    from extractor.pipeline.stages import Stages

    return Stages.from_config(config, endpoint)


def pipeline(
    config: RunConfig,
    call: ModelCall,
    cache: ResponseCache | None,
    *,
    endpoint: str | None = None,
    pay: Price | None = None,
    slots: asyncio.Semaphore | None = None,
) -> Pipeline:
    """The run's pipeline, with the prompt its settings name."""
    from extractor.pipeline.prompt import load_prompt
    from extractor.pipeline.window import Pipeline

    prompt = load_prompt(config.model.prompt_variant, config.model.results)
    return Pipeline(config, call, prompt, cache, endpoint=endpoint, price=pay, slots=slots)


def request_bodies(model: ModelConfig) -> RequestBodies:
    """Batch API request lines: the bodies the live call would send (`batch.RequestBodies`)."""
    from extractor.pipeline.batch import RequestBodies

    return RequestBodies(lambda client: model_call(model, http_client=client))


def batch_client(api_key: str | None, base_url: str | None) -> openai.AsyncOpenAI:
    """The Batch API's client (files and batches, not chat completions)."""
    import openai

    return openai.AsyncOpenAI(
        api_key=api_key or "sk-no-key-required", base_url=base_url, max_retries=2
    )


async def preflight(config: RunConfig) -> None:
    """The cheap `GET /models` of the remote endpoint: a bad key or a dead endpoint is one
    clear `FatalError` before anything is paid for (the embedded model needs none)."""
    if is_local(config):
        return
    call = model_call(config.model)
    try:
        await call.preflight()
    finally:
        await call.client.close()


def probe_messages(config: RunConfig, papers: tuple[tuple[str, str], ...]) -> list[Messages]:
    """The chat messages `run` would send for these (title, abstract) papers: the prompt,
    results mode and facts of these settings (`extractor check` probes with them)."""
    from extractor.pipeline.read import paper_from_fields

    prepare = stages(config, endpoint="").prepare
    messages = []
    for n, (title, abstract) in enumerate(papers, 1):
        fields: dict[str, object] = {"title": title, "abstract": abstract}
        paper = paper_from_fields(fields, "<check>", n, lambda _m: None)
        assert paper is not None  # the probe papers have abstracts
        messages.append(prepare(paper).messages())
    return messages
