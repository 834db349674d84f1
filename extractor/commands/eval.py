"""`extractor eval PRED.jsonl GOLD.jsonl [--json]`: score predictions against gold (EVAL.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from extractor.core.candidates import candidate_recall
from extractor.core.evaluate import EvalInputError, evaluate, format_report


class BadInput(click.ClickException):
    """A one-line "Error: ..." with the usage-error status (2), without the usage text:
    the command was typed right, the files are what is wrong."""

    exit_code = 2


def _read_jsonl(path: Path) -> Iterator[Any]:
    try:
        f = path.open(encoding="utf-8")
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from None
    with f:
        try:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise BadInput(f"{path}:{number}: invalid JSON: {e.msg}") from None
        except UnicodeDecodeError:
            raise BadInput(f"{path}: not UTF-8 text") from None


@click.command("eval")
@click.argument("pred", metavar="PRED.jsonl", type=click.Path(path_type=Path))
@click.argument("gold", metavar="GOLD.jsonl", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def eval_command(pred: Path, gold: Path, as_json: bool) -> None:
    """Score PRED.jsonl against GOLD.jsonl: per-field precision, recall and F1, attribute
    accuracies, and the macro F1 over the six fields (the rules of EVAL.md).

    Records pair by normalized title; a record without `extraction` (an error record) predicts
    nothing."""
    predicted = list(_read_jsonl(pred))
    gold_records = list(_read_jsonl(gold))
    try:
        report = evaluate(predicted, gold_records)
    except EvalInputError as e:
        raise BadInput(str(e)) from None
    mined = candidate_recall(gold_records)
    if as_json:
        click.echo(
            json.dumps(
                {
                    **report.to_dict(),
                    "candidate_recall": {
                        "recall": mined.recall,
                        "found": mined.found,
                        "gold": mined.total,
                    },
                },
                indent=2,
            )
        )
    else:
        click.echo(format_report(report))
        if mined.total:
            click.echo(
                f"number miner: {mined.found} of {mined.total} gold result values are candidates "
                f"(candidate recall {mined.recall:.3f})"
            )
