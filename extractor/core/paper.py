"""One input paper, as every reader yields it, and its stable id."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Paper:
    id: str
    title: str
    abstract: str
    path: str
    line: int
    url: str | None = None
    warnings: tuple[str, ...] = field(default=())


def _canonical(text: str) -> str:
    # Ids must survive the cosmetic differences between two listings of one paper
    # (re-wrapped lines, NBSPs, composed vs decomposed accents), so hash a canonical form.
    # Most texts already are canonical; checking is cheaper than rebuilding them, and ids
    # are computed for every record of every run.
    if not text.isascii():  # NFKC is the identity on ASCII
        text = unicodedata.normalize("NFKC", text)
    # Every whitespace character but " " is unprintable, so a printable text without double,
    # leading or trailing spaces is what `" ".join(text.split())` would return.
    if (
        text.isprintable()
        and "  " not in text
        and not text.startswith(" ")
        and not text.endswith(" ")
    ):
        return text
    return " ".join(text.split())


def paper_id(title: str, abstract: str) -> str:
    """Stable id derived from the text: the same paper gets the same id in every run."""
    digest = hashlib.sha256(f"{_canonical(title)}\n{_canonical(abstract)}".encode())
    return digest.hexdigest()[:16]
