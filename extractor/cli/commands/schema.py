"""`extractor schema`: the JSON Schema of the output record (identical to schemas/)."""

from __future__ import annotations

import json
from typing import Any

import click


def record_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file in `schemas/`, by file name, as generated from the code."""
    from extractor.core.record import ErrorRecord, Record
    from extractor.core.schema import Extraction, reply_model

    return {
        "record.schema.json": Record.model_json_schema(),
        "error.schema.json": ErrorRecord.model_json_schema(),
        "extraction.schema.json": Extraction.model_json_schema(),
        # what the model is shown in the other results modes (the record's form is the above)
        "extraction.anchored.schema.json": reply_model("anchored").model_json_schema(),
        "extraction.rule.schema.json": reply_model("rule").model_json_schema(),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@click.command("schema")
@click.option(
    "--which",
    type=click.Choice(["record", "error", "extraction", "extraction.anchored", "extraction.rule"]),
    default="record",
    show_default=True,
)
def schema_command(which: str) -> None:
    """Print the JSON Schema of the output record (or of the errors file, or the Extraction)."""
    click.echo(render(record_schemas()[f"{which}.schema.json"]), nl=False)


def write_files(directory: str = "schemas") -> None:
    """Regenerate `schemas/` from the code: `python -m extractor.cli.commands.schema`."""
    from pathlib import Path

    root = Path(directory)
    root.mkdir(exist_ok=True)
    for name, schema in record_schemas().items():
        (root / name).write_text(render(schema), encoding="utf-8")


if __name__ == "__main__":
    write_files()
