"""Prompt stage: the prompt is data (`prompts/`), versioned by the hash of its files.

The static part (instructions, then the worked examples) comes first and the paper last, so
servers with prefix caching (llama.cpp, vLLM, OpenAI) reuse the shared prefix across papers.

In anchored results mode (the default) the paper is followed by its mined numbers, each with
an id, and the model cites results by id; the worked examples are shown in that form too,
their ids coming from the same miner, so they always agree with what the model is shown.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.core.facts import analyze
from extractor.core.numbers import MINER_VERSION, Number
from extractor.core.schema import RESULT_MODES

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # Python 3.11+; only for the annotation

# Which files make up each variant; `compact` is for small local models, whose quality drops
# and whose prefill time grows with every token of instructions they have to read.
_VARIANTS = {
    "full": ("system.md", "examples.jsonl"),
    "compact": ("system_compact.md", None),
}
VARIANTS = tuple(_VARIANTS)
_USER = "user.md"
_NUMBERS = "numbers.md"
_BEFORE, _AFTER = 70, 45  # characters of context around a listed number

# The tags that delimit the data blocks of the user message (user.md, numbers.md). In the
# paper's own text one would end its block early, and what follows would read as ours; the
# "<" of any such tag in the data is written "&lt;", so the model still sees what was there.
_DELIMITER = re.compile(r"<(?=\s*/?\s*(?:paper|numbers)\b)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def neutralise(text: str) -> str:
    """`text` as data inside a block: it cannot open or close one (a normal text, with none
    of those tags, comes back as it is, so its prompt and cache key do not change)."""
    return _DELIMITER.sub("&lt;", text) if "<" in text else text


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with each `{name}` of `values` replaced, in one pass over the template:
    text put in is never scanned again, so a title holding "{abstract}" stays that title."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group()), template)


@dataclass(frozen=True)
class Prompt:
    variant: str
    results: str
    version: str
    system: str
    user_template: str
    numbers_template: str
    examples: tuple[dict[str, Any], ...]

    @property
    def anchored(self) -> bool:
        return self.results == "anchored"

    def render_paper(self, title: str, abstract: str, numbers: Sequence[Number] = ()) -> str:
        paper = fill(
            self.user_template, {"title": neutralise(title), "abstract": neutralise(abstract)}
        )
        if not self.anchored:
            return paper
        listed = render_numbers(title, abstract, numbers)
        return paper + "\n" + fill(self.numbers_template, {"numbers": neutralise(listed)})

    def messages(
        self, title: str, abstract: str, numbers: Sequence[Number] = ()
    ) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}]
        for ex in self.examples:
            msgs.append({"role": "user", "content": ex["_paper"]})
            msgs.append({"role": "assistant", "content": json.dumps(ex["_answer"])})
        msgs.append({"role": "user", "content": self.render_paper(title, abstract, numbers)})
        return msgs


def render_numbers(title: str, abstract: str, numbers: Sequence[Number]) -> str:
    """One line per candidate: its id, the number as written, and the words around it in its
    sentence (what a reader needs to judge it; more would only cost prefill)."""
    if not numbers:
        return "none"
    lines = []
    for n in numbers:
        text = title if n.field == "title" else abstract
        s0, s1 = n.sentence
        lo = max(s0, n.start - _BEFORE)
        hi = min(s1, n.end + _AFTER)
        if lo > s0:  # start and end on whole words
            lo = text.find(" ", lo, n.start) + 1 or lo
        if hi < s1:
            hi = text.rfind(" ", n.end, hi) if text.rfind(" ", n.end, hi) > 0 else hi
        window = " ".join(text[lo:hi].split())
        lines.append(
            f'{n.id}: {n.written.strip()} | "{"..." if lo > s0 else ""}{window}'
            f'{"..." if hi < s1 else ""}"'
        )
    return "\n".join(lines)


def anchored_answer(extraction: dict[str, Any], title: str, abstract: str) -> dict[str, Any]:
    """A written-out answer (value, evidence) in the anchored form: each result becomes the id
    of the mined number with its value, found inside its evidence. For the worked examples;
    a result with no such number is an error, since the example would teach a wrong id."""
    facts = analyze(title, abstract)
    out = dict(extraction)
    refs = []
    for r in extraction.get("results", []):
        match = [
            n
            for n in facts.numbers
            if (
                abs(abs(n.value) - abs(r["value"])) <= 1e-9 * max(1.0, abs(r["value"]))
                and r["evidence"] in facts.clause(n) + facts.text(n.field)[n.clause[1] :]
            )
            or (abs(n.value - r["value"]) <= 1e-9 and r["evidence"] in facts.text(n.field))
        ]
        if not match:
            raise ValueError(f"example {title!r}: no mined number for result {r['value']}")
        # The same value at two places: the one that stands inside its evidence.
        inside = [n for n in match if _inside_evidence(n, r["evidence"], facts.text(n.field))]
        match = inside or match
        refs.append(
            {"id": match[0].id, **{k: r.get(k) for k in ("delta", "benchmark", "metric", "model")}}
        )
    out["results"] = refs
    return out


def _inside_evidence(n: Any, evidence: str, text: str) -> bool:
    at = text.find(evidence)
    while at >= 0:
        if at <= n.start and n.end <= at + len(evidence):
            return True
        at = text.find(evidence, at + 1)
    return False


@cache
def prompt_files() -> Traversable:
    """The folder of prompt files. An installed wheel holds it as `extractor/prompts/`
    (pyproject.toml maps the top-level `prompts/` there); a source checkout, and an editable
    install, which runs the checkout's own files, has it at the top level, beside the package.
    Only the file names enter the prompt version, so both give the same versions."""
    packaged = resources.files("extractor").joinpath("prompts")
    if packaged.joinpath(_USER).is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "prompts" / _USER).is_file() and (checkout / "pyproject.toml").is_file():
        return checkout / "prompts"
    raise FileNotFoundError(
        f"the prompt files are missing: neither {packaged} (an installed wheel) nor "
        f"{checkout / 'prompts'} (a source checkout) holds {_USER}; reinstall extractor"
    )


def _read(name: str) -> str:
    return prompt_files().joinpath(name).read_text(encoding="utf-8")


@cache
def load_prompt(variant: str = "full", results: str = "anchored") -> Prompt:
    if variant not in _VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r} (choose from {', '.join(VARIANTS)})")
    if results not in RESULT_MODES:
        raise ValueError(
            f"unknown results mode {results!r} (choose from {', '.join(RESULT_MODES)})"
        )
    system_file, examples_file = _VARIANTS[variant]
    rules_file = f"results_{results}{'_compact' if variant == 'compact' else ''}.md"
    names = [system_file, rules_file, examples_file, _USER]
    if results == "anchored":
        names.append(_NUMBERS)
    files = {name: _read(name) for name in names if name}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    if results == "anchored":
        # candidate ids are in the prompt and in every cached answer
        digest.update(b"miner\0" + MINER_VERSION.encode())
    # (in rule mode the results are computed after the cache: the miner is not in the key)
    prompt = Prompt(
        variant=variant,
        results=results,
        version=f"{variant}-{results[0]}-{digest.hexdigest()[:12]}",
        system=files[system_file].replace("{results}", files[rules_file]).strip(),
        user_template=files[_USER].strip(),
        numbers_template=files.get(_NUMBERS, "").strip(),
        examples=(),
    )
    examples = []
    for line in files.get(examples_file or "", "").splitlines():
        if not line.strip():
            continue
        ex = json.loads(line)
        title, abstract = ex["title"], ex["abstract"]
        facts = analyze(title, abstract)
        answer = ex["extraction"]
        if prompt.anchored:
            answer = anchored_answer(answer, title, abstract)
        elif results == "rule":
            answer = {k: v for k, v in answer.items() if k != "results"}
        ex["_paper"] = prompt.render_paper(title, abstract, facts.numbers)
        ex["_answer"] = answer
        examples.append(ex)
    return Prompt(**{**prompt.__dict__, "examples": tuple(examples)})
