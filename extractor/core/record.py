"""The output record and the errors-file record (CONTRACT.md), as data: the one definition of
their shape.

Everything else derives from these models: `extractor schema` and `schemas/*.json`
(`model_json_schema`), the columns of `records_to_dataframe` and `to_arrow` and their Arrow
types (`extractor/pipeline/tables.py`, from `model_fields`), and the fields the review page keeps
(`extractor/report/payload.py`). The hot path writes plain dicts and strings of the same
shape (`stages.py`: building a pydantic object per record costs more than the rest of a
cached run); tests hold what it writes to these models, field for field and in their order
(tests/core/test_record_shape.py), so a field written there and missing here fails.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from extractor.core.schema import Extraction

MatchKind = Literal["exact", "normalized", "fuzzy", "url"]


class Span(BaseModel):
    """Where one extracted item stands in the text: `text[start:end]` of `field`."""

    field: Literal["title", "abstract"]
    start: int = Field(ge=0, description="Offset of the first character (Python str index).")
    end: int = Field(ge=0, description="Offset just past the last character.")
    match: MatchKind = Field(
        description="exact: verbatim; normalized: equal after case, whitespace, Unicode and "
        "LaTeX-escape folding; fuzzy: bounded edit distance; url: found by the URL scanner."
    )
    score: float = Field(default=1.0, ge=0, le=1, description="Similarity, 1.0 unless fuzzy.")


class Spans(BaseModel):
    """One entry per item of the same list in `extraction`, same order; null when the item
    was kept by `--keep-ungrounded` but could not be found."""

    models: list[Span | None] = Field(default_factory=list)
    benchmarks: list[Span | None] = Field(default_factory=list)
    results: list[Span | None] = Field(default_factory=list)
    code_links: list[Span | None] = Field(default_factory=list)


class Source(BaseModel):
    path: str = Field(description="The input file as given, or '-' for stdin.")
    line: int = Field(ge=1, description="1-based line where the record starts.")
    url: str | None = Field(
        default=None,
        description="The paper's URL when the input gave one (the `url` of a JSONL or CSV "
        "row); absent otherwise.",
    )


class Meta(BaseModel):
    model: str
    prompt_version: str
    schema_version: str
    cached: bool
    attempts: int = Field(
        ge=0, description="Requests the answer took when it was obtained (cached or not)."
    )
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    mode: Literal["json_schema", "tools", "json"] | None = Field(
        default=None,
        description="How the schema was imposed on the model when the answer was obtained "
        "(the mode --mode auto chose); null when not known (an answer cached by 0.1.0).",
    )
    cost_usd: float | None = Field(
        default=None,
        ge=0,
        description="US dollars the answer cost when it was obtained (its tokens at the "
        "model's price, the Batch API's discount included); null when the price is unknown.",
    )


class Record(BaseModel):
    model_config = ConfigDict(title="ExtractorRecord")

    id: str
    title: str
    abstract: str
    source: Source
    extraction: Extraction
    spans: Spans
    meta: Meta
    warnings: list[str] = Field(default_factory=list)


class ErrorInfo(BaseModel):
    type: str
    message: str
    attempts: int = Field(ge=0)


class ErrorRecord(BaseModel):
    model_config = ConfigDict(title="ExtractorError")

    id: str
    title: str
    source: Source
    error: ErrorInfo
