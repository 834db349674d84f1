"""`extractor eval PRED.jsonl GOLD.jsonl [--json]`: score predictions against gold (EVAL.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from extractor.cli.exit import RecordsCommand
from extractor.core.candidates import candidate_recall
from extractor.core.evaluate import evaluate, format_report
from extractor.pipeline.records_io import load_records_for_cli


@click.command("eval", cls=RecordsCommand)
@click.argument("pred", metavar="PRED.jsonl", type=click.Path(path_type=Path))
@click.argument("gold", metavar="GOLD.jsonl", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def eval_command(pred: Path, gold: Path, as_json: bool) -> None:
    """Score PRED.jsonl against GOLD.jsonl: per-field precision, recall and F1, attribute
    accuracies, and the macro F1 over the six fields (the rules of EVAL.md).

    Records pair by normalized title; a record without `extraction` (an error record) predicts
    nothing. A line that is not a JSON object, in either file, is an error (exit 2): skipping it
    would change the score."""
    # EvalInputError is an InputError: exit status 2, like an unreadable file.
    gold_records = list(load_records_for_cli(str(gold), strict=True))
    report = evaluate(load_records_for_cli(str(pred), strict=True), gold_records)
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
