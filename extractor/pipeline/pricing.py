"""What a run costs: a price table for well-known models, overridable, and token estimates.

Prices are US dollars per million tokens: input, cached input (a prompt prefix the provider
served from its cache), output. The Batch API bills both at `batch_discount` of those (half,
at OpenAI). The table is a snapshot (`PRICES_AS_OF`); prices change, so a run can override
them with `--price-in/--price-out` or a small TOML file (`--prices FILE`):

    [models."gpt-4o-mini"]
    input = 0.15
    cached_input = 0.075
    output = 0.60
    batch_discount = 0.5      # optional, default 0.5

A model with no price (a name the table does not know, and no override) has an unknown cost:
`None` everywhere, never a made-up figure. Local models cost nothing.

Token counts for `--dry-run` and for `--max-cost` reservations are estimates: no tokenizer
for OpenAI's models can be loaded offline, so a prompt is counted as its characters / 4 plus
a few tokens per message, the rule of thumb OpenAI documents for English text
(`bench/token_estimate.py` measures its error against the usage servers reported).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from extractor.errors import PriceError

PRICES_AS_OF = "2025-08"
DEFAULT_BATCH_DISCOUNT = 0.5
CHARS_PER_TOKEN = 4.0
TOKENS_PER_MESSAGE = 4  # role and delimiters of each chat message


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # None: cached input is billed as input
    batch_discount: float = DEFAULT_BATCH_DISCOUNT

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cached_tokens: int = 0,
        batch: bool = False,
    ) -> float:
        """Dollars for one answer's tokens. `cached_tokens` is the part of `input_tokens`
        the provider served from its prompt cache."""
        cached = min(max(cached_tokens, 0), input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        dollars = (
            (input_tokens - cached) * self.input
            + cached * cached_rate
            + output_tokens * self.output
        ) / 1e6
        return dollars * (self.batch_discount if batch else 1.0)


FREE = Price(0.0, 0.0, 0.0)

# Standard-tier list prices, USD per 1M tokens (input, cached input, output).
_TABLE: dict[str, tuple[float, float | None, float]] = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "o3": (2.00, 0.50, 8.00),
    "o3-mini": (1.10, 0.55, 4.40),
    "o4-mini": (1.10, 0.275, 4.40),
    "gpt-4-turbo": (10.00, None, 30.00),
    "gpt-3.5-turbo": (0.50, None, 1.50),
}
PRICES: dict[str, Price] = {
    name: Price(input=i, cached_input=c, output=o) for name, (i, c, o) in _TABLE.items()
}

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-2024-08-06 is priced as gpt-4o


def lookup(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """The price of `model`, or None when unknown. `local:` models are free; a dated
    snapshot and a provider prefix (`openai/gpt-4o`) fall back to the model's own name."""
    if model.startswith("local:"):
        return FREE
    prices = PRICES if table is None else table
    for name in (model, _DATED.sub("", model), model.rsplit("/", 1)[-1]):
        if name in prices:
            return prices[name]
        undated = _DATED.sub("", name)
        if undated in prices:
            return prices[undated]
    return None


def load_prices(path: str | Path) -> dict[str, Price]:
    """The table with the models of a TOML file added or replaced (see the module doc)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise PriceError("reading a prices file needs Python 3.11 (tomllib)") from None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PriceError(f"cannot read prices file {path}: {e}") from None
    models = data.get("models")
    if not isinstance(models, dict):
        raise PriceError(f'{path}: expected [models."NAME"] tables with input and output')
    table = dict(PRICES)
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise PriceError(f"{path}: models.{name} is not a table")
        try:
            table[name] = Price(
                input=_rate(entry, "input"),
                output=_rate(entry, "output"),
                cached_input=_rate(entry, "cached_input") if "cached_input" in entry else None,
                batch_discount=_rate(entry, "batch_discount")
                if "batch_discount" in entry
                else DEFAULT_BATCH_DISCOUNT,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise PriceError(f"{path}: models.{name}: {e}") from None
    return table


def _rate(entry: dict[str, Any], field: str) -> float:
    value = entry[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{field} must be a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field} must be a non-negative number")
    return float(value)


def resolve_price(
    model: str,
    *,
    price_in: float | None = None,
    price_out: float | None = None,
    prices_file: str | Path | None = None,
) -> Price | None:
    """The run's price: the table (with the file's entries), then `--price-in/--price-out`
    on top. One of the two flags alone needs a known price for the other."""
    for flag, value in (("--price-in", price_in), ("--price-out", price_out)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise PriceError(f"{flag} must be a non-negative number, not {value!r}")
    table = load_prices(prices_file) if prices_file else None
    price = lookup(model, table)
    if price_in is None and price_out is None:
        return price
    if price is None:
        if price_in is None or price_out is None:
            raise PriceError(
                f"no price known for model {model!r}: give both --price-in and --price-out"
            )
        return Price(input=price_in, output=price_out)
    # An explicit input price also sets the cached one unless the table knows better.
    return replace(
        price,
        input=price.input if price_in is None else price_in,
        output=price.output if price_out is None else price_out,
        cached_input=price.cached_input if price_in is None else None,
    )


def estimate_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens of chat messages, estimated: characters / 4 plus a few per message."""
    chars = sum(len(str(m.get("content") or "")) for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages) + 3


def dollars(value: float | None) -> str:
    """A cost for people: `$0.0123`, `$12.35`, or `unknown`."""
    if value is None:
        return "unknown"
    if value < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


# What a re-ask adds to the prompt besides the rejected answer: the validation error and
# instructor's request to correct it (a generous bound; errors run to a few lines).
REASK_OVERHEAD_TOKENS = 300


class Budget:
    """`--max-cost`: a record is sent only if what was spent, what is reserved by records in
    flight, and this record's worst case stay within the limit: its estimated prompt and
    `max_tokens` of output, for the first request and for each re-ask it may need (a re-ask
    repeats the prompt with the rejected answer and the error added). Once one does not fit,
    nothing more is sent: the run stops cleanly, short of the limit by at most the
    reservations it could not make, and never past it by a re-ask."""

    def __init__(self, limit: float, price: Price):
        if not math.isfinite(limit) or limit < 0:  # nan would never stop a run
            raise PriceError(f"--max-cost must be a non-negative number, not {limit!r}")
        self.limit = limit
        self.price = price
        self.spent = 0.0
        self.reserved = 0.0
        self.exhausted = False

    def reserve(
        self,
        prompt_tokens: int,
        max_output_tokens: int,
        *,
        batch: bool = False,
        reasks: int = 0,
    ) -> float:
        """The amount reserved, or -1 (and `exhausted`) when it does not fit."""
        if self.exhausted:
            return -1.0
        worst = sum(
            self.price.cost(
                prompt_tokens + i * (max_output_tokens + REASK_OVERHEAD_TOKENS),
                max_output_tokens,
                batch=batch,
            )
            for i in range(reasks + 1)
        )
        if self.spent + self.reserved + worst > self.limit:
            self.exhausted = True
            return -1.0
        self.reserved += worst
        return worst

    def settle(self, reserved: float, spent: float) -> None:
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += spent
