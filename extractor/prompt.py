"""Prompt stage: the prompt is data (`extractor/prompts/`), versioned by the hash of its files.

The static part (instructions, then the worked examples) comes first and the paper last, so
servers with prefix caching (llama.cpp, vLLM, OpenAI) reuse the shared prefix across papers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Which files make up each variant; `compact` is for small local models, whose quality drops
# and whose prefill time grows with every token of instructions they have to read.
_VARIANTS = {
    "full": ("system.md", "examples.jsonl"),
    "compact": ("system_compact.md", None),
}
VARIANTS = tuple(_VARIANTS)
_USER = "user.md"


@dataclass(frozen=True)
class Prompt:
    variant: str
    version: str
    system: str
    user_template: str
    examples: tuple[dict[str, Any], ...]

    def render_paper(self, title: str, abstract: str) -> str:
        return self.user_template.format(title=title, abstract=abstract)

    def messages(self, title: str, abstract: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}]
        for ex in self.examples:
            msgs.append({"role": "user", "content": self.render_paper(ex["title"], ex["abstract"])})
            msgs.append({"role": "assistant", "content": json.dumps(ex["extraction"])})
        msgs.append({"role": "user", "content": self.render_paper(title, abstract)})
        return msgs


def _read(name: str) -> str:
    return resources.files("extractor.prompts").joinpath(name).read_text(encoding="utf-8")


@cache
def load_prompt(variant: str = "full") -> Prompt:
    if variant not in _VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r} (choose from {', '.join(VARIANTS)})")
    system_file, examples_file = _VARIANTS[variant]
    files = {name: _read(name) for name in (system_file, examples_file, _USER) if name}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    examples = tuple(
        json.loads(line) for line in files.get(examples_file or "", "").splitlines() if line.strip()
    )
    return Prompt(
        variant=variant,
        version=f"{variant}-{digest.hexdigest()[:12]}",
        system=files[system_file].strip(),
        user_template=files[_USER].strip(),
        examples=examples,
    )
