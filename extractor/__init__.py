"""extractor: structured, grounded data from scientific paper abstracts.

    from extractor import Extractor
    record = Extractor(model="gpt-4o-mini").extract(title, abstract)

    import extractor                        # files in, OUT and errors file out, as the CLI
    extractor.run(extractor.build_config(["in.jsonl"], output="out.jsonl"))

The names below are imported on first use, so `import extractor` (and the CLI answering
from its cache) loads no SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from extractor.api import (
        ConfigError,
        ExtractionError,
        Extractor,
        FatalError,
        Stats,
        build_config,
    )
    from extractor.config import ModelConfig, RunConfig
    from extractor.core.paper import Paper
    from extractor.engines.ray import run_ray
    from extractor.errors import ExtractorError
    from extractor.pipeline.runner import RunResult, run
    from extractor.pipeline.tables import records_to_dataframe, to_arrow

_EXPORTS = {
    "Extractor": "extractor.api",
    "ExtractionError": "extractor.api",
    "ExtractorError": "extractor.errors",
    "ConfigError": "extractor.api",
    "FatalError": "extractor.api",
    "Stats": "extractor.api",
    "build_config": "extractor.api",
    "RunConfig": "extractor.config",
    "ModelConfig": "extractor.config",
    "Paper": "extractor.core.paper",
    "records_to_dataframe": "extractor.pipeline.tables",
    "to_arrow": "extractor.pipeline.tables",
    "run": "extractor.pipeline.runner",
    "RunResult": "extractor.pipeline.runner",
    "run_ray": "extractor.engines.ray",
}

__all__ = [
    "ConfigError",
    "ExtractionError",
    "Extractor",
    "ExtractorError",
    "FatalError",
    "ModelConfig",
    "Paper",
    "RunConfig",
    "RunResult",
    "Stats",
    "__version__",
    "build_config",
    "records_to_dataframe",
    "run",
    "run_ray",
    "to_arrow",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'extractor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
