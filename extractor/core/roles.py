"""A model's role where the text says it plainly: "we propose X" (proposed), "outperforms X"
(compared), "built on X" (component).

Small models call most models "component" (issue 8); these phrasings are common enough in
abstracts that a rule can decide them, and where no rule fires the model's role stands.
GUIDELINES.md's order breaks ties: proposed > compared > component.
"""

from __future__ import annotations

import re

from extractor.core.align import word_spans
from extractor.core.schema import Role

_BEFORE = 70  # characters of the same sentence read before a name
_PROPOSE = re.compile(
    r"\b(?:we|this\s+(?:paper|work|study)|our\s+(?:work|paper))\s+(?:\w+\s+){0,2}?"
    r"(?:propose|introduce|present|develop|design|build|release|contribute|unveil|offer)"
    r"[sd]?\b(?:(?!\b(?:than|over|on|with|from|upon|using|via|against|outperform\w*)\b)[^.;])*$",
    re.IGNORECASE,
)
_NAMED = re.compile(
    r"\b(?:called|named|dubbed|termed|coined|namely)\s*,?\s*(?:the\s+)?$|^(?:our|the\s+proposed)\s+$",
    re.IGNORECASE,
)
_COMPARED = re.compile(
    r"\b(?:outperform\w*|surpass\w*|beat\w*|exceed\w*|than|compared\s+(?:to|with)|"
    r"comparisons?\s+(?:to|with)|versus|vs\.?|against|rival\w*|competitive\s+with|"
    r"on\s+par\s+with|baselines?(?:\s+(?:such\s+as|like|including))?|matches|matching|"
    r"including|such\s+as|like)\b[^.;]{0,40}$",
    re.IGNORECASE,
)
_COMPONENT_BEFORE = re.compile(
    r"\b(?:built\s+(?:up)?on|based\s+on|on\s+top\s+of|initiali[sz]ed\s+(?:from|with)|"
    r"leverag\w*|us(?:e|es|ing)|adopt\w*|employ\w*|fine-?tun\w*|distill\w*\s+from|"
    r"extends?|extending|upon)\s+(?:the\s+|a\s+|an\s+|pre-?trained\s+|frozen\s+)*$",
    re.IGNORECASE,
)
_COMPONENT_AFTER = re.compile(
    r"^(?:-based|\s+(?:as\s+(?:the|a|an|its|our)\s+)?(?:\w+\s+)?"
    r"(?:backbone|encoder|decoder|teacher|base\s+model|language\s+model|LLM|tokenizer))\b",
    re.IGNORECASE,
)


_TITLE_METHOD = re.compile(r"\b(?:using|via|with|through|by)\s+(?:an?\s+|the\s+)?$", re.I)


def _occurrences(name: str, text: str) -> list[int]:
    return [start for start, _ in word_spans(text, name)]


def _sentence_start(text: str, pos: int) -> int:
    cut = max(text.rfind(". ", 0, pos), text.rfind("; ", 0, pos), text.rfind("\n", 0, pos))
    return cut + 2 if cut >= 0 else 0


def role_from_text(name: str, title: str, abstract: str) -> Role | None:
    """The role the text states for `name`, or None where it does not say plainly."""
    found: set[Role] = set()
    head = title.split(":", 1)[0].strip() if ":" in title else ""
    if head and (head == name or head.startswith(name + " ") or name in head.split()):
        found.add("proposed")
    for text in (title, abstract):
        for pos in _occurrences(name, text):
            lo = max(_sentence_start(text, pos), pos - _BEFORE)
            before = text[lo:pos]
            after = text[pos + len(name) : pos + len(name) + 40]
            if _NAMED.search(before) or _PROPOSE.search(before):
                found.add("proposed")
            elif text is title and _TITLE_METHOD.search(before):
                # "Sentiment Analysis using Hierarchical Fusion": what the paper does it with
                found.add("proposed")
            elif _COMPARED.search(before):
                found.add("compared")
            elif _COMPONENT_BEFORE.search(before) or _COMPONENT_AFTER.search(after):
                found.add("component")
    for role in ("proposed", "compared", "component"):
        if role in found:
            return role  # type: ignore[return-value]
    return None
