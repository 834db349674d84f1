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
import functools
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from extractor.config import FALLBACK_ORDER, MAX_ABSTRACT_CHARS, ModelConfig, RunConfig
from extractor.core.facts import PaperFacts, analyze
from extractor.core.ground import ground
from extractor.core.labels import LabelPolicy
from extractor.core.numbers import Number
from extractor.core.paper import Paper
from extractor.core.schema import reply_model, schema_version
from extractor.model.call import Messages, Reply
from extractor.pipeline.cache import Finished, KeyMaker, url_endpoint
from extractor.pipeline.pricing import Price, resolve_price
from extractor.pipeline.prompt import Prompt, load_prompt
from extractor.pipeline.write import dumps, encode_string


@dataclass
class Outcome:
    """What one paper came to: a record (or its JSON line, when it was copied out of the
    cache as one) or an error record, and what its answer cost."""

    record: dict[str, Any] | None = None
    line: str | None = None
    error: dict[str, Any] | None = None
    cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0  # dollars its requests cost (0 when the price is unknown)
    not_sent: bool = False  # held back by --max-cost

    def as_record(self) -> dict[str, Any] | None:
        if self.record is None and self.line is not None:
            return json.loads(self.line)  # type: ignore[no-any-return]
        return self.record


class Prepared:
    """One paper ready to be asked: what the prompt shows, and the key of its answer.

    What the text says (`facts`) and the keys are worked out when first asked for: a rerun
    served from finished records needs one key and no facts at all."""

    def __init__(
        self,
        paper: Paper,
        abstract: str,
        warnings: tuple[str, ...],
        key_makers: dict[str, KeyMaker],
        prompt: Prompt,
    ):
        self.paper = paper
        self.abstract = abstract  # as the prompt shows it (cut at max_abstract_chars)
        self.warnings = warnings
        # The makers of its answer's cache key under each mode that may answer (`auto`: each
        # of its fallback order, tried in that order; an explicit mode: that one), so
        # switching between auto and an explicit mode re-pays nothing.
        self._makers = key_makers
        self._keys: dict[str, str] = {}
        self.prompt = prompt

    @property
    def whole(self) -> bool:
        """The prompt shows the whole abstract (it was not cut)."""
        return len(self.abstract) == len(self.paper.abstract)

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self._makers)

    def key_of(self, mode: str) -> str:
        key = self._keys.get(mode)
        if key is None:
            key = self._keys[mode] = self._makers[mode].key(self.paper.title, self.abstract)
        return key

    @property
    def keys(self) -> dict[str, str]:
        return {mode: self.key_of(mode) for mode in self._makers}

    @property
    def key(self) -> str:
        """The key under the first mode (the one an engine without fallback uses)."""
        return self.key_of(next(iter(self._makers)))

    def key_for(self, reply: Reply) -> str:
        """Where an answer is cached: under the mode that answered."""
        if reply.mode in self._makers:
            return self.key_of(reply.mode)
        return self.key

    @cached_property
    def facts(self) -> PaperFacts:
        # What the text the prompt shows says, computed once for the prompt and the grounding:
        # the model saw nothing past the cut, and a pasted text of megabytes is then never
        # walked whole by a stage. The cut text is the abstract's start: offsets are the same.
        facts = analyze(self.paper.title, self.abstract)
        last = facts.numbers[-1] if facts.numbers else None
        if last is not None and not self.whole and last.end == len(self.abstract):
            after = self.paper.abstract[last.end : last.end + 2]
            if after[:1].isdigit() or (after[:1] in ".," and after[1:].isdigit()):
                # a number the cut went through ("91.|5"): not one the text holds
                facts = dataclasses.replace(facts, numbers=facts.numbers[:-1])
        return facts

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

    def cost(
        self, input_tokens: int, output_tokens: int, *, batch: bool = False, cached: int = 0
    ) -> float | None:
        """Dollars, or None when the price is unknown; `cached` of the input tokens were
        served from the provider's prompt cache."""
        if self.price is None:
            return None
        return self.price.cost(input_tokens, output_tokens, batch=batch, cached_tokens=cached)

    def reply_cost(self, reply: Reply) -> float | None:
        return self.cost(
            reply.input_tokens,
            reply.output_tokens,
            batch=reply.batch,
            cached=reply.cached_input_tokens,
        )

    @property
    def policy(self) -> LabelPolicy:
        return _policy(self.labels)

    @cached_property
    def key_makers(self) -> dict[str, KeyMaker]:
        return {
            mode: KeyMaker(model, self.endpoint, self.prompt.version, self.schema_version)
            for mode, model in self.key_models.items()
        }

    @cached_property
    def record_version(self) -> str:
        """Everything besides the answer and the text that a finished record depends on:
        the code that grounds and labels (its source, hashed: any change to it is a new
        version, so a cached record is never older than the code) and the run's settings
        for it."""
        settings = json.dumps([self.labels, self.keep_ungrounded, self.schema_version])
        return hashlib.sha256(f"{_record_code()}\0{settings}".encode()).hexdigest()[:16]

    def prepare(self, paper: Paper) -> Prepared:
        abstract, warnings = prompt_abstract(paper, self.max_abstract_chars)
        return Prepared(paper, abstract, tuple(warnings), self.key_makers, self.prompt)

    def finish(self, prepared: Prepared, reply: Reply, *, cached: bool) -> Outcome:
        """The grounded record, with whatever validation or grounding raises contained to
        this one record.

        They run on answers nobody vetted (a model's, an old cache entry's); a bug or an odd
        answer there must cost this record, as an `internal_error` in the errors file, not
        the run. The answer stays cached: fixing the bug and running the same command again
        finishes it without a request.
        """
        cost = self.reply_cost(reply) or 0.0
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
        cost = self.reply_cost(reply)
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

    def finished(self, prepared: Prepared, outcome: Outcome, reply: Reply) -> Finished | None:
        """What the cache keeps of a record so that a rerun copies it out: None when the
        record is not one to keep (a failure, or an abstract the prompt cut: its key does
        not cover the whole text the record holds)."""
        record = outcome.record
        if record is None or not prepared.whole:
            return None
        body = f'"extraction":{dumps(record["extraction"])},"spans":{dumps(record["spans"])}'
        grounded = tuple(record["warnings"][len(prepared.warnings) :])
        return Finished(
            self.record_version, body, grounded, reply.attempts, reply.input_tokens,
            reply.output_tokens, reply.batch, reply.cached_input_tokens,
        )  # fmt: skip

    def from_finished(self, paper: Paper, finished: Finished, mode: str) -> Outcome:
        """A cached paper's output line, from its finished record: byte for byte the line
        `record` would give (tests/pipeline/test_finished_records.py), without grounding it again,
        and written out as a string: a rerun copies ~2 kB a record, so every dict built and
        encoded again shows (about 20 µs of the 66 a record may cost at 15,000 a second)."""
        cost = self.cost(
            finished.input_tokens,
            finished.output_tokens,
            batch=finished.batch,
            cached=finished.cached_input_tokens,
        )
        text = encode_string  # exactly what `dumps` makes of a string
        url = f',"url":{text(paper.url)}' if paper.url else ""
        warnings = [*paper.warnings, *finished.warnings]
        path = self._paths.get(paper.path) or self._paths.setdefault(paper.path, text(paper.path))
        line = "".join((
            '{"id":', text(paper.id), ',"title":', text(paper.title),
            ',"abstract":', text(paper.abstract),
            ',"source":{"path":', path, ',"line":', str(int(paper.line)), url, "},",
            finished.body,
            self._meta_head, str(finished.attempts),
            ',"input_tokens":', str(finished.input_tokens),
            ',"output_tokens":', str(finished.output_tokens),
            ',"mode":', text(mode),
            ',"cost_usd":', "null" if cost is None else dumps(round(cost, 8)),
            '},"warnings":', dumps(warnings) if warnings else "[]", "}",
        ))  # fmt: skip
        return Outcome(
            line=line,
            cached=True,
            input_tokens=finished.input_tokens,
            output_tokens=finished.output_tokens,
            cost=cost or 0.0,
        )

    @cached_property
    def _paths(self) -> dict[str, str]:
        return {}  # each input's path, JSON-encoded once

    @cached_property
    def _meta_head(self) -> str:
        """The start of a cached record's `meta`, the same for every record of the run."""
        head = dumps({
            "model": self.model.model,
            "prompt_version": self.prompt.version,
            "schema_version": self.schema_version,
            "cached": True,
        })  # fmt: skip
        return f',"meta":{head[:-1]},"attempts":'

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


@functools.cache
def _record_code() -> str:
    """A digest of the source of what turns an answer into a record: `extractor/core/`, this
    module and the writer's encoding."""
    root = Path(__file__).resolve().parents[1]
    here = root / "pipeline"
    digest = hashlib.sha256()
    for path in sorted(
        [*root.joinpath("core").rglob("*.py"), here / "stages.py", here / "write.py"]
    ):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


_POLICIES: dict[str, LabelPolicy] = {}


def _policy(labels: str) -> LabelPolicy:
    policy = _POLICIES.get(labels)
    if policy is None:
        policy = _POLICIES[labels] = LabelPolicy.parse(labels)
    return policy
