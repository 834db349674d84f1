"""The per-record stages, as functions over plain data, for every engine.

A record goes through the same steps whoever drives it (the single-process `Pipeline`, the
library API, a Ray Data actor, a vLLM processor):

1. `Stages.prepare(paper)`: the abstract as the prompt shows it (cut at
   `max_abstract_chars`, with a warning), the facts of the text (URLs, blocked ranges,
   number candidates), the cache key, and the chat messages (`Prepared.messages()`);
2. a model call (any `ModelCall`, or a batch engine) turns the messages into a `Reply`;
3. `Stages.finish(prepared, reply, cached=...)`: validation and grounding into the output
   record of CONTRACT.md, with a failure there contained to this record
   (`internal_error`); `Stages.error(paper, type, message, attempts)`: a failed call into
   the errors-file record.

Nothing here opens a connection, a file or a cache: `Stages` is built once from the run's
settings (`Stages.from_config`) and can be pickled to other processes with them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from extractor.cache import cache_key, url_endpoint
from extractor.call import Messages, Reply
from extractor.config import FALLBACK_ORDER, MAX_ABSTRACT_CHARS, ModelConfig, RunConfig
from extractor.core.facts import PaperFacts, analyze
from extractor.core.ground import ground
from extractor.core.labels import LabelPolicy
from extractor.core.numbers import Number
from extractor.core.paper import Paper
from extractor.core.schema import reply_model, schema_version
from extractor.pricing import Price, resolve_price
from extractor.prompt import Prompt, load_prompt


@dataclass
class Outcome:
    """What one paper came to: a record or an error record, and what its answer cost."""

    record: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0  # dollars its requests cost (0 when the price is unknown)
    not_sent: bool = False  # held back by --max-cost


@dataclass(frozen=True)
class Prepared:
    """One paper ready to be asked: what the prompt shows, and the key of its answer."""

    paper: Paper
    facts: PaperFacts
    abstract: str  # as the prompt shows it (cut at max_abstract_chars)
    warnings: tuple[str, ...]
    # The cache key of its answer under each mode that may answer (`auto`: each of its
    # fallback order, tried in that order; an explicit mode: that one), so switching between
    # auto and an explicit mode re-pays nothing.
    keys: dict[str, str]
    prompt: Prompt = field(repr=False)

    @property
    def key(self) -> str:
        """The key under the first mode (the one an engine without fallback uses)."""
        return next(iter(self.keys.values()))

    def key_for(self, reply: Reply) -> str:
        """Where an answer is cached: under the mode that answered."""
        return self.keys.get(reply.mode or "") or self.key

    @property
    def shown_numbers(self) -> list[Number]:
        # A number past the prompt's cut is not shown, so it cannot be cited.
        return [n for n in self.facts.numbers if n.field == "title" or n.end <= len(self.abstract)]

    def messages(self) -> Messages:
        return self.prompt.messages(self.paper.title, self.abstract, self.shown_numbers)


@dataclass(frozen=True)
class Stages:
    """The settings every per-record stage depends on, resolved once per run."""

    model: ModelConfig
    endpoint: str  # who answers, for the cache key (see `cache.cache_key`)
    prompt: Prompt = field(repr=False)
    labels: str
    keep_ungrounded: bool = False
    max_abstract_chars: int = MAX_ABSTRACT_CHARS
    price: Price | None = None  # for meta.cost_usd; None: the cost is unknown

    @classmethod
    def from_config(cls, config: RunConfig, endpoint: str | None = None) -> Stages:
        """`endpoint` defaults to the normalized base URL; the embedded model's is its file's
        identity (`local.model_identity`), which the caller resolves."""
        return cls(
            model=config.model,
            endpoint=endpoint if endpoint is not None else url_endpoint(config.model.base_url),
            prompt=load_prompt(config.model.prompt_variant, config.model.results),
            labels=config.labels,
            keep_ungrounded=config.keep_ungrounded,
            max_abstract_chars=config.max_abstract_chars,
            # Every engine prices records alike (raises PriceError on a bad prices file).
            price=resolve_price(
                config.model.model,
                price_in=config.scale.price_in,
                price_out=config.scale.price_out,
                prices_file=config.scale.prices_file,
            ),
        )

    @property
    def schema_version(self) -> str:
        return schema_version(self.model.results)

    @cached_property
    def key_models(self) -> dict[str, ModelConfig]:
        """The settings each mode's answer is cached under: `auto` may be answered in any
        mode of its fallback order, an explicit mode in that one."""
        modes = FALLBACK_ORDER if self.model.mode == "auto" else (self.model.mode,)
        return {m: dataclasses.replace(self.model, mode=m) for m in modes}

    def cost(self, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float | None:
        if self.price is None:
            return None
        return self.price.cost(input_tokens, output_tokens, batch=batch)

    @property
    def policy(self) -> LabelPolicy:
        return _policy(self.labels)

    def prepare(self, paper: Paper) -> Prepared:
        abstract, warnings = prompt_abstract(paper, self.max_abstract_chars)
        keys = {
            mode: cache_key(
                model, self.endpoint, self.prompt.version, self.schema_version,
                paper.title, abstract,
            )
            for mode, model in self.key_models.items()
        }  # fmt: skip
        # What the text says is computed once, for the prompt and the grounding.
        facts = analyze(paper.title, paper.abstract)
        return Prepared(paper, facts, abstract, tuple(warnings), keys, self.prompt)

    def finish(self, prepared: Prepared, reply: Reply, *, cached: bool) -> Outcome:
        """The grounded record, with whatever validation or grounding raises contained to
        this one record.

        They run on answers nobody vetted (a model's, an old cache entry's); a bug or an odd
        answer there must cost this record, as an `internal_error` in the errors file, not
        the run. The answer stays cached: fixing the bug and running the same command again
        finishes it without a request.
        """
        cost = self.cost(reply.input_tokens, reply.output_tokens, batch=reply.batch) or 0.0
        try:
            record = self.record(prepared, reply, cached=cached)
        except Exception as e:  # KeyboardInterrupt and cancellation still stop the run
            return Outcome(
                error=self.error(prepared.paper, "internal_error", one_line(e), reply.attempts),
                cached=cached,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost=cost,
            )
        return Outcome(
            record=record,
            cached=cached,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost=cost,
        )

    def record(self, prepared: Prepared, reply: Reply, *, cached: bool) -> dict[str, Any]:
        """The output record of CONTRACT.md (may raise on an invalid answer: see `finish`)."""
        paper = prepared.paper
        cost = self.cost(reply.input_tokens, reply.output_tokens, batch=reply.batch)
        grounded = ground(
            reply_model(self.model.results).model_validate(reply.extraction),
            prepared.facts,
            keep_ungrounded=self.keep_ungrounded,
            policy=self.policy,
        )
        source: dict[str, Any] = {"path": paper.path, "line": paper.line}
        if paper.url:
            source["url"] = paper.url
        return {
            "id": paper.id,
            "title": paper.title,
            "abstract": paper.abstract,
            "source": source,
            "extraction": grounded.extraction.model_dump(warnings=False),  # JSON-native types only
            "spans": grounded.spans,
            "meta": {
                "model": self.model.model,
                "prompt_version": self.prompt.version,
                "schema_version": self.schema_version,
                "cached": cached,
                "attempts": reply.attempts,
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "mode": reply.mode,
                "cost_usd": None if cost is None else round(cost, 8),
            },
            "warnings": [*prepared.warnings, *grounded.warnings],
        }

    @staticmethod
    def error(paper: Paper, type_: str, message: str, attempts: int) -> dict[str, Any]:
        return error_record(paper, type_, message, attempts)


def prompt_abstract(paper: Paper, limit: int) -> tuple[str, list[str]]:
    """The abstract as the prompt shows it, and the paper's warnings with the cut's, if any."""
    warnings = list(paper.warnings)
    if len(paper.abstract) <= limit:
        return paper.abstract, warnings
    warnings.append(
        f"abstract truncated from {len(paper.abstract)} to {limit} characters for the prompt"
    )
    return paper.abstract[:limit], warnings


def error_record(paper: Paper, type_: str, message: str, attempts: int) -> dict[str, Any]:
    """The errors-file record of CONTRACT.md."""
    return {
        "id": paper.id,
        "title": paper.title,
        "source": {"path": paper.path, "line": paper.line},
        "error": {"type": type_, "message": message, "attempts": attempts},
    }


def one_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: message` on one line, cut short: pydantic's errors run to many lines."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_POLICIES: dict[str, LabelPolicy] = {}


def _policy(labels: str) -> LabelPolicy:
    policy = _POLICIES.get(labels)
    if policy is None:
        policy = _POLICIES[labels] = LabelPolicy.parse(labels)
    return policy
