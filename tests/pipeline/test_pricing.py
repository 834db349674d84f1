"""The price table, its overrides, and the prompt-token estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.pipeline.pricing import (
    FREE,
    Price,
    PriceError,
    dollars,
    estimate_tokens,
    load_prices,
    lookup,
    resolve_price,
)


def test_well_known_models_have_prices_and_dated_snapshots_share_them() -> None:
    mini = lookup("gpt-4o-mini")
    assert mini == Price(input=0.15, cached_input=0.075, output=0.60)
    assert lookup("gpt-4o-mini-2024-07-18") == mini
    assert lookup("openai/gpt-4o-mini") == mini
    assert lookup("local:qwen2.5-coder-1.5b") == FREE
    assert lookup("Qwen/Qwen2.5-7B-Instruct") is None


def test_cost_counts_cached_input_and_the_batch_discount() -> None:
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    assert price.cost(1_000_000, 0) == pytest.approx(2.0)
    assert price.cost(1_000_000, 1_000_000, cached_tokens=500_000) == pytest.approx(9.25)
    assert price.cost(1_000_000, 1_000_000, batch=True) == pytest.approx(5.0)
    # Cached input with no cached price is billed as input.
    assert Price(input=1.0, output=0.0).cost(100, 0, cached_tokens=100) == pytest.approx(1e-4)


def test_flags_override_the_table_and_unknown_models_need_both() -> None:
    assert resolve_price("gpt-4o-mini", price_out=1.0) == Price(0.15, 1.0, 0.075)
    assert resolve_price("gpt-4o-mini", price_in=1.0) == Price(1.0, 0.60, None)
    assert resolve_price("my-model", price_in=0.1, price_out=0.2) == Price(0.1, 0.2)
    assert resolve_price("my-model") is None
    with pytest.raises(PriceError, match="both --price-in and --price-out"):
        resolve_price("my-model", price_in=0.1)


def test_a_toml_file_adds_and_replaces_models(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[models."my-model"]\ninput = 0.2\noutput = 0.8\n'
        '[models."gpt-4o-mini"]\ninput = 0.1\ncached_input = 0.05\noutput = 0.4\n'
        "batch_discount = 0.6\n"
    )
    table = load_prices(path)
    assert table["my-model"] == Price(0.2, 0.8)
    assert table["gpt-4o-mini"] == Price(0.1, 0.4, 0.05, 0.6)
    assert resolve_price("my-model", prices_file=path) == Price(0.2, 0.8)
    path.write_text('[models."x"]\ninput = -1\noutput = 1\n')
    with pytest.raises(PriceError, match="non-negative"):
        load_prices(path)
    path.write_text("input = 1\n")
    with pytest.raises(PriceError, match="models"):
        load_prices(path)


def test_estimate_is_characters_over_four_plus_message_overhead() -> None:
    messages = [{"role": "system", "content": "x" * 400}, {"role": "user", "content": "y" * 40}]
    assert estimate_tokens(messages) == 100 + 10 + 2 * 4 + 3


def test_dollars_are_readable() -> None:
    assert dollars(None) == "unknown"
    assert dollars(0.01234) == "$0.0123"
    assert dollars(1234.5) == "$1,234.50"
