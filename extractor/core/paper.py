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
    # Why this record cannot be extracted (its id already names another paper): it goes to
    # the errors file with this message, and nothing is sent for it.
    problem: str | None = None


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _canonical(text: str) -> bytes:
    """The text's canonical form, UTF-8 encoded (what is hashed)."""
    # Ids must survive the cosmetic differences between two listings of one paper
    # (re-wrapped lines, NBSPs, composed vs decomposed accents), so hash a canonical form.
    # Most texts already are canonical; checking is cheaper than rebuilding them, and ids
    # are computed for every record of every run (on a rerun from the cache, a tenth of
    # what a record costs).
    if text.isascii():  # NFKC is the identity on ASCII
        data = text.encode("ascii")
        # printable ASCII is 0x20-0x7e; deleting those bytes is 3x faster than isprintable
        printable = not data.translate(None, _PRINTABLE_ASCII)
    else:
        text = unicodedata.normalize("NFKC", text)
        data = text.encode("utf-8", "surrogatepass")
        printable = text.isprintable()
    # Every whitespace character but " " is unprintable, so a printable text without double,
    # leading or trailing spaces is what `" ".join(text.split())` would return.
    if printable and b"  " not in data and not data.startswith(b" ") and not data.endswith(b" "):
        return data
    return " ".join(text.split()).encode("utf-8", "surrogatepass")


def paper_id(title: str, abstract: str) -> str:
    """Stable id derived from the text: the same paper gets the same id in every run."""
    digest = hashlib.sha256(_canonical(title))
    digest.update(b"\n")
    digest.update(_canonical(abstract))
    return digest.hexdigest()[:16]
