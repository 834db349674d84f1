"""What a paper's text says, computed once: its URLs, instruction-like ranges and number
candidates, and the field texts that fold themselves on first need.

The prompt (candidates with ids), the grounder (URLs, blocked ranges, candidates by id) and
the rules share one `PaperFacts`, so no stage walks the text again through another.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractor.core.align import FieldName, Text
from extractor.core.injection import instruction_like
from extractor.core.numbers import Number, mine_numbers
from extractor.core.urls import FoundUrl, find_urls


@dataclass(frozen=True, slots=True)
class PaperFacts:
    title: Text
    abstract: Text
    urls: dict[FieldName, list[FoundUrl]]
    numbers: tuple[Number, ...]

    def text(self, field: FieldName) -> str:
        return self.title.text if field == "title" else self.abstract.text

    def number(self, id_: str) -> Number | None:
        """The candidate with this id ("n3"; "3" and "N3" are read the same)."""
        key = id_.strip().lower()
        if not key.startswith("n"):
            key = "n" + key
        for n in self.numbers:
            if n.id == key:
                return n
        return None

    def clause(self, n: Number) -> str:
        return self.text(n.field)[n.clause[0] : n.clause[1]]


def analyze(title: str, abstract: str) -> PaperFacts:
    urls: dict[FieldName, list[FoundUrl]] = {
        "title": find_urls(title),
        "abstract": find_urls(abstract),
    }
    fields: tuple[tuple[FieldName, str], ...] = (("title", title), ("abstract", abstract))
    texts: dict[FieldName, Text] = {}
    for field, text in fields:
        spans = [(u.start, u.end) for u in urls[field]]
        texts[field] = Text(field, text, instruction_like(text), spans)
    # Numbers in URLs or in text that addresses the model are never offered as candidates.
    numbers = mine_numbers(
        [(f, t.text, [*t.urls, *t.blocked]) for f, t in texts.items()]  # type: ignore[misc]
    )
    return PaperFacts(texts["title"], texts["abstract"], urls, numbers)
