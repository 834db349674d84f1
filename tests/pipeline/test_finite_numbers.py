"""Prices, budgets and paces are finite, non-negative numbers: nan passes every comparison (a
`--max-cost nan` never stops a run) and a price of nan or inf writes `"cost_usd": NaN`,
which is not JSON. Refused with one line and exit status 2, before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor.pipeline.pricing import Budget, Price, PriceError, resolve_price
from tests.cli.test_run import answer, invoke, papers, write_jsonl

BAD = ["nan", "NaN", "inf", "-inf", "-1"]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(
    "option",
    ["--price-in", "--price-out", "--max-cost", "--rpm", "--tpm", "--temperature", "--timeout"],
)
def test_a_number_that_is_not_finite_is_refused(
    api: Any, tmp_path: Path, option: str, value: str
) -> None:
    if option == "--temperature" and value == "-1":
        return  # a negative temperature is the endpoint's to refuse
    chat = api.post("/chat/completions").mock(side_effect=answer)
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    out = tmp_path / "out.jsonl"
    extra = ["--price-in", "1", "--price-out", "1"]  # the option given after overrides its own
    result = invoke(str(src), "-o", str(out), "-m", "my-model", *extra, f"{option}={value}")
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and option in result.stderr
    assert chat.call_count == 0 and not out.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1.0", "-inf"])
@pytest.mark.parametrize("field", ["input", "output", "cached_input", "batch_discount"])
def test_a_prices_file_with_a_number_that_is_not_finite_is_refused(
    api: Any, tmp_path: Path, field: str, value: str
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", papers(1))
    prices = tmp_path / "prices.toml"
    entry = {"input": "1.0", "output": "1.0", field: value}
    prices.write_text('[models."my-model"]\n' + "".join(f"{k} = {v}\n" for k, v in entry.items()))
    result = invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-m", "my-model",
                    "--prices", str(prices))  # fmt: skip
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and field in result.stderr


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_the_library_refuses_them_too(value: float) -> None:
    with pytest.raises(PriceError):
        resolve_price("my-model", price_in=value, price_out=1.0)
    with pytest.raises(PriceError):
        resolve_price("gpt-4o-mini", price_out=value)
    with pytest.raises(PriceError):
        Budget(value, Price(1.0, 1.0))
