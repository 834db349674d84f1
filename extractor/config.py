"""One object for everything a run depends on, built by the CLI from options and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_LOCAL_MODEL = "local:qwen2.5-coder-1.5b"
# How the schema is imposed, in the order `auto` tries them: the first that the endpoint
# supports is used for the rest of the run.
FALLBACK_ORDER = ("json_schema", "tools", "json")
MODES = ("auto", *FALLBACK_ORDER)
DEFAULT_LABELS = "select=rule,delta=rule,attrs=model"
# A CPU model writes 10-20 tokens a second: a long answer from a busy slot takes minutes.
LOCAL_TIMEOUT = 600.0
# The embedded server's parallel slots, and so the most requests a local run keeps in flight:
# on a small CPU machine a third slot adds no throughput, only a share of the context.
LOCAL_SLOTS = 2
# Longer abstracts are cut to this many characters in the prompt (never in the output): a
# real abstract is under 3,000; 20,000 keeps pasted full texts from blowing the context.
MAX_ABSTRACT_CHARS = 20_000


def default_cache_dir() -> Path:
    env = os.environ.get("EXTRACTOR_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("extractor")) / "responses"


@dataclass
class ModelConfig:
    """What is sent, and how: everything here except the key and timeouts changes answers."""

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mode: str = "auto"  # or one of FALLBACK_ORDER
    temperature: float = 0.0
    max_tokens: int = 2048
    timeout: float = 120.0
    max_retries: int = 6  # transport failures: 429, 5xx, timeouts, dropped connections
    max_reasks: int = 2  # invalid output shown back to the model with its validation error
    prompt_variant: str = "full"
    # anchored: numbers are mined by code and listed with ids, the model cites them (issue 8);
    # free: the model writes each result's value and evidence itself.
    results: str = "anchored"


@dataclass
class ScaleOptions:
    """Price, pace and the Batch API (issue 10); none of it changes an answer."""

    rpm: float | None = None  # requests per minute, at most (the provider's, if lower)
    tpm: float | None = None  # tokens per minute, at most
    price_in: float | None = None  # dollars per million input tokens
    price_out: float | None = None
    prices_file: str | None = None  # TOML: [models."NAME"] input, cached_input, output
    max_cost: float | None = None  # dollars: stop cleanly before spending more
    dry_run: bool = False  # count and price what is not cached; send nothing
    batch: bool = False  # send what is not cached through the Batch API
    batch_file: str | None = None  # write the request lines here and stop
    batch_results: str | None = None  # take the answers from this results file
    batch_fallback: str = "retry"  # failed batch lines: "retry" in a new batch, or "live"
    batch_retries: int = 1  # retry batches before a line's failure is final
    poll_interval: float = 30.0  # seconds between looks at submitted batches


@dataclass
class RunConfig:
    inputs: list[str]
    output: str | None = None
    errors: str | None = None
    input_format: str | None = None
    encoding: str = "utf-8"  # the inputs' (a byte-order mark overrides it)
    concurrency: int = 8
    limit: int | None = None
    use_cache: bool = True
    cache_only: bool = False  # answer from the cache alone: re-ground without spending
    cache_dir: Path = field(default_factory=default_cache_dir)
    keep_ungrounded: bool = False
    quiet: bool = False
    max_abstract_chars: int = MAX_ABSTRACT_CHARS
    # Who labels mined numbers (see core/labels.LabelPolicy); applied after the cache, so
    # changing it re-grounds cached answers without a request.
    labels: str = DEFAULT_LABELS
    model: ModelConfig = field(default_factory=ModelConfig)
    scale: ScaleOptions = field(default_factory=ScaleOptions)

    @property
    def errors_path(self) -> str:
        if self.errors:
            return self.errors
        if self.output and self.output != "-":
            stem = self.output[: -len(".jsonl")] if self.output.endswith(".jsonl") else self.output
            return f"{stem}.errors.jsonl"
        return "extractor.errors.jsonl"
