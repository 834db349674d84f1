"""The Extraction object: what the model is asked for (CONTRACT.md, GUIDELINES.md).

Field descriptions are prompt text: they reach the model inside the JSON Schema, so they are
written for the model, in the guidelines' own words. Changing one changes `SCHEMA_VERSION`,
which is part of every cache key.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from extractor.core.normalize import normalize_modalities, normalize_unit

Role = Literal["proposed", "compared", "component", "mentioned"]
Modality = Literal[
    "text", "image", "video", "audio", "speech", "3d", "depth", "tabular",
    "time_series", "graph", "code", "brain_signal", "sensor", "other",
]  # fmt: skip
LinkKind = Literal["code", "model", "data", "project_page", "demo", "other"]

MODALITIES: tuple[str, ...] = Modality.__args__  # type: ignore[attr-defined]

# Bounds on the lists, sent as maxItems: a grammar-constrained small model can loop inside an
# array until max_tokens ("image", "image", ...), and a bound ends the array. Answers over a
# bound are cut to it, not rejected: a re-ask would cost more than the tail is worth.
MAX_ITEMS = 40
MAX_TASKS = 8
MAX_LINKS = 20


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(
        description="The model, system or method name exactly as written in the text, "
        "without trailing punctuation. Prefer the acronym when both are given. "
        "Not a benchmark, not a generic phrase ('our model', 'MLLMs'), not a general technique."
    )
    role: Role = Field(
        description="proposed: introduced by this paper (and its named modules); "
        "compared: a baseline or competitor, or a model a benchmark paper evaluates; "
        "component: used inside the proposed system (backbone, encoder, base LLM); "
        "mentioned: named for context only. If two fit, the first in this order wins."
    )
    size: str | None = Field(
        default=None,
        description="Parameter count as written in the text for this model ('7B', '3B, 8B'), else null.",
    )

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        # small models write the JSON null as a string
        if isinstance(v, str) and v.strip().lower() in {"", "null", "none", "n/a"}:
            return None
        return v


class Result(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: float = Field(
        description="The number as written, at its written scale: 85.3 for '85.3%', 3 for '3x faster'. "
        "A range '5-8%' gives two results, one per number."
    )
    unit: str | None = Field(
        default=None,
        description="'%', 'points', 'x' (for times/fold/×), 'hours', 'GB', 'FPS', 'ms', ... "
        "or null. A metric name is never a unit.",
    )
    delta: bool = Field(
        default=False,
        description="true for a gain, gap or saving ('improves by 2.1%', '3x faster'); "
        "false for a level reached ('achieves 85.3% on MMBench').",
    )
    benchmark: str | None = Field(
        default=None, description="The benchmark or dataset the text ties the number to, else null."
    )
    metric: str | None = Field(
        default=None, description="The metric when named ('accuracy', 'CIDEr', 'FID'), else null."
    )
    model: str | None = Field(
        default=None, description="The model that reached the number when the text says, else null."
    )
    evidence: str = Field(
        description="The shortest verbatim clause of the text holding the number and what it measures, "
        "copied character for character."
    )

    @field_validator("unit", mode="before")
    @classmethod
    def _unit(cls, v: Any) -> Any:
        return normalize_unit(v) if isinstance(v, str) else v


class CodeLink(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(
        description="A URL exactly as written in the text, minus trailing punctuation."
    )
    kind: LinkKind = Field(
        default="other",
        description="code (a repository), model (weights), data (a dataset), project_page, demo, or other.",
    )


class Extraction(BaseModel):
    """Structured facts from one paper's title and abstract. Extract only what the text says."""

    model_config = ConfigDict(extra="ignore")

    models: list[Model] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": MAX_ITEMS},
        description="Every named model, system or method in the text, each once.",
    )
    modalities: list[Modality] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": len(MODALITIES)},
        description="Data modalities the paper's model, dataset or benchmark takes in or produces. "
        "'vision-language' = image and text; point clouds = 3d; EEG/fMRI = brain_signal; "
        "IMU/LiDAR/radar/thermal/event cameras = sensor. Empty when the text names none.",
    )
    tasks: list[str] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": MAX_TASKS},
        description="The ML tasks addressed or evaluated, as short lowercase common names "
        "('visual question answering'), at most about six, most central first.",
    )
    benchmarks: list[str] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": MAX_ITEMS},
        description="Every named dataset or benchmark mentioned (evaluated on, introduced, or "
        "used for training), as written. Unnamed ones are not listed.",
    )
    results: list[Result] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": MAX_ITEMS},
        description="Every reported number measuring performance or cost of a model or method. "
        "Not dataset sizes, counts of tasks or experiments, years, versions or model sizes.",
    )
    code_links: list[CodeLink] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": MAX_LINKS},
        description="Every URL in the text pointing to code, weights, data, a project page or a demo.",
    )

    @field_validator("models", "benchmarks", "results", mode="before")
    @classmethod
    def _bounded(cls, v: Any) -> Any:
        return v[:MAX_ITEMS] if isinstance(v, list) else v

    @field_validator("code_links", mode="before")
    @classmethod
    def _links(cls, v: Any) -> Any:
        return v[:MAX_LINKS] if isinstance(v, list) else v

    @field_validator("modalities", mode="before")
    @classmethod
    def _modalities(cls, v: Any) -> Any:
        return normalize_modalities(v) if isinstance(v, list) else v

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        seen: dict[str, None] = {}
        for t in v:
            if isinstance(t, str) and (t := " ".join(t.split()).lower()):
                seen.setdefault(t, None)
        return list(seen)[:MAX_TASKS]

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # instructor asks for the schema on every request; building it costs about a
        # millisecond, which is most of the client's own work per call, so build it once.
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _extraction_schema()


@cache
def _extraction_schema() -> dict[str, Any]:
    return BaseModel.model_json_schema.__func__(Extraction)  # type: ignore[attr-defined,no-any-return]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


SCHEMA_VERSION = _digest(_extraction_schema())


# --- anchored results (issue 8) ----------------------------------------------------------------
# The numbers of the text are mined by code and listed under the paper with ids; the model
# answers, per result, the id and what only it can judge. Value, unit and evidence then come
# from the text itself, exact by construction, and the answer is shorter.

_DELTA = Result.model_fields["delta"].description
_BENCHMARK = Result.model_fields["benchmark"].description
_METRIC = Result.model_fields["metric"].description
_MODEL = Result.model_fields["model"].description


class ResultRef(BaseModel):
    """A reported result: the id of a listed number, and what that number measures."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(
        description="The id of a listed number that is a result ('n3'). Never a number that "
        "is a count, a size, a year or a version."
    )
    delta: bool = Field(default=False, description=_DELTA)
    benchmark: str | None = Field(default=None, description=_BENCHMARK)
    metric: str | None = Field(default=None, description=_METRIC)
    model: str | None = Field(default=None, description=_MODEL)


class AnchoredResult(BaseModel):
    """A result as accepted in anchored mode: a listed number's id, or today's written-out
    form (value and evidence), so a model or fixture answering that way keeps working."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    value: float | None = None
    unit: str | None = None
    delta: bool = False
    benchmark: str | None = None
    metric: str | None = None
    model: str | None = None
    evidence: str | None = None

    _unit = field_validator("unit", mode="before")(Result._unit.__func__)  # type: ignore[attr-defined]

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @model_validator(mode="after")
    def _anchored_or_written(self) -> AnchoredResult:
        if self.id is None and (self.value is None or not self.evidence):
            raise ValueError("a result needs the id of a listed number (or a value and evidence)")
        return self


class _AnchoredWire(Extraction):
    results: list[ResultRef] = Field(  # type: ignore[assignment]
        default_factory=list,
        json_schema_extra={"maxItems": MAX_ITEMS},
        description="Every listed number that reports the performance or cost of a model or "
        "method, by its id. Not dataset sizes, counts of tasks or experiments, years, versions "
        "or model sizes.",
    )


class AnchoredExtraction(Extraction):
    """Structured facts from one paper's title and abstract. Extract only what the text says."""

    results: list[AnchoredResult] = Field(  # type: ignore[assignment]
        default_factory=list, description=_AnchoredWire.model_fields["results"].description
    )

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        if args or kwargs:
            return BaseModel.model_json_schema.__func__(_AnchoredWire, *args, **kwargs)  # type: ignore[attr-defined,no-any-return]
        return _fresh(_anchored_schema)  # a caller may change it; the cache must not


@cache
def _schema_json(build: Any) -> str:
    return json.dumps(build())


def _fresh(build: Any) -> dict[str, Any]:
    # instructor asks for the schema on every request: parsing it back is 4x cheaper than
    # a deep copy, and each caller still gets its own
    return json.loads(_schema_json(build))  # type: ignore[no-any-return]


@cache
def _anchored_schema() -> dict[str, Any]:
    schema = BaseModel.model_json_schema.__func__(_AnchoredWire)  # type: ignore[attr-defined]
    schema["title"] = "Extraction"
    return schema  # type: ignore[no-any-return]


ANCHORED_SCHEMA_VERSION = _digest(_anchored_schema())


class RuleExtraction(AnchoredExtraction):
    """Structured facts from one paper's title and abstract. Extract only what the text says."""

    # Results come from the number miner and the rules alone: the model is not asked for
    # them (a shorter prompt and answer), and an answer that gives them anyway is still read.

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        if args or kwargs:
            return BaseModel.model_json_schema.__func__(_RuleWire, *args, **kwargs)  # type: ignore[attr-defined,no-any-return]
        return _fresh(_rule_schema)


class _RuleWire(BaseModel):
    models: list[Model] = Extraction.model_fields["models"]  # type: ignore[assignment]
    modalities: list[Modality] = Extraction.model_fields["modalities"]  # type: ignore[assignment]
    tasks: list[str] = Extraction.model_fields["tasks"]  # type: ignore[assignment]
    benchmarks: list[str] = Extraction.model_fields["benchmarks"]  # type: ignore[assignment]
    code_links: list[CodeLink] = Extraction.model_fields["code_links"]  # type: ignore[assignment]


@cache
def _rule_schema() -> dict[str, Any]:
    schema = BaseModel.model_json_schema.__func__(_RuleWire)  # type: ignore[attr-defined]
    schema["title"] = "Extraction"
    schema["description"] = Extraction.__doc__
    return schema  # type: ignore[no-any-return]


RULE_SCHEMA_VERSION = _digest(_rule_schema())
# anchored: mined numbers listed with ids, the model cites them; rule: the model is not asked
# for results, the miner and the rules give them; free: the model writes values and evidence.
RESULT_MODES = ("anchored", "rule", "free")
_REPLY_MODELS: dict[str, type[Extraction]] = {
    "anchored": AnchoredExtraction,
    "rule": RuleExtraction,
    "free": Extraction,
}
_SCHEMA_VERSIONS = {
    "anchored": ANCHORED_SCHEMA_VERSION,
    "rule": RULE_SCHEMA_VERSION,
    "free": SCHEMA_VERSION,
}


def reply_model(results: str) -> type[Extraction]:
    """The model an answer is validated with (and whose schema is sent) per results mode."""
    return _REPLY_MODELS[results]


def schema_version(results: str) -> str:
    return _SCHEMA_VERSIONS[results]
