r"""Find where a string stands in a paper's title or abstract.

`locate` tries three levels, each over every field before the next level, so a verbatim match
anywhere beats a folded one:

1. exact: the string as given (surrounding whitespace ignored);
2. normalized: equal after folding both sides: Unicode compatibility forms, accents and case
   (NFKD, combining marks dropped, casefold), runs of whitespace, curly and straight quotes
   (also LaTeX ``...''), dashes and minus signs, "×" as "x", zero-width characters, and LaTeX
   escapes (`10.9\%` reads as `10.9%`, `\&` as `&`);
3. fuzzy, only when asked (meant for evidence clauses, never for names, where one changed digit
   is a different model): at most 10% edits, relative to the folded string's length.

Offsets always index the original, unfolded text, so `text[start:end]` is what the user reads.
Folding keeps, for every folded character, the span of original characters it came from.

Fuzzy matching stays linear in the text's length: candidate windows are placed by the rarest
words the string shares with the text (`str.count`/`str.find`, no index to build), windows that
cannot be close are skipped by counting shared trigrams, and the rest are scored with Myers'
bit-parallel edit distance (Python integers as bit vectors). A 100 KB abstract costs a fold of
the text and a few windows of the string's own length.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from extractor.core.normalize import text_key

FieldName = Literal["title", "abstract"]
MatchKind = Literal["exact", "normalized", "fuzzy"]

FUZZY_MIN_SCORE = 0.9
# Below this many folded characters 10% edits round to fewer than two; a short string that
# differs at all is more likely a different thing than a typo.
_FUZZY_MIN_LEN = 20
# Longer than any clause; a model that pastes half the abstract is not citing evidence.
_FUZZY_MAX_LEN = 1000
_ANCHORS = 4  # rarest shared words used to place candidate windows
_ANCHOR_MAX_HITS = 64  # a word this common places windows everywhere: skip it
_MAX_WINDOWS = 8


class Match(NamedTuple):
    """`text[start:end]` of the title or abstract; the shape of `record.Span`.

    A named tuple rather than a frozen dataclass: it is built once per item on the hot path,
    and a frozen dataclass's `__init__` costs several times more."""

    field: FieldName
    start: int
    end: int
    match: MatchKind
    score: float = 1.0

    def span(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "match": self.match,
            "score": self.score,
        }


# --- folding ---------------------------------------------------------------------------------

# Where folding may change something: a character other than a space that is not printable
# ASCII, or is one of \\ ` '. Between two of them the text only needs lowercasing, one character
# to one, and is copied in bulk (an abstract is mostly such text). Runs of spaces are searched
# only in texts that have one: a space is the commonest character, and matching it costs.
_SPECIAL = re.compile(r"[^ -&(-\[\]-_a-~]")
_SPECIAL_OR_SPACES = re.compile(r"[^ -&(-\[\]-_a-~]|  +")
_LATEX_ESCAPED = frozenset("%&_#${}")

_PUNCT = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
    "\u00d7": "x",
}
_CHAR_FOLD: dict[str, str] = {}


def _fold_char(c: str) -> str:
    f = _CHAR_FOLD.get(c)
    if f is None:
        f = _PUNCT.get(c)
        if f is None:
            if unicodedata.category(c) == "Cf":  # soft hyphen, zero-width space and joiners
                f = ""
            else:
                d = unicodedata.normalize("NFKD", c)
                f = "".join(ch for ch in d if not unicodedata.combining(ch)).casefold()
                f = "".join(_PUNCT.get(ch, ch) for ch in f)
        _CHAR_FOLD[c] = f
    return f


class Folded:
    """A folded text and the way back: `source(a, b)` is the span of the original text that
    the folded characters `[a, b)` come from.

    The map is kept per segment, not per character: an abstract is a few long runs copied one
    to one between a few folded characters, and a list of ints per character would cost more
    than the folding itself."""

    __slots__ = ("_copy", "_first", "_source_end", "_source_start", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._first: list[int] = []  # folded offset where each segment starts
        self._source_start: list[int] = []
        self._source_end: list[int] = []  # for a folded (not copied) segment
        self._copy: list[bool] = []

    def _segment(self, first: int, start: int, end: int, copy: bool) -> None:
        self._first.append(first)
        self._source_start.append(start)
        self._source_end.append(end)
        self._copy.append(copy)

    def _locate(self, a: int) -> int:
        return bisect_right(self._first, a) - 1

    def source(self, a: int, b: int) -> tuple[int, int]:
        i = self._locate(a)
        start = self._source_start[i] + (a - self._first[i] if self._copy[i] else 0)
        j = self._locate(b - 1)
        copied_end = self._source_start[j] + (b - self._first[j])
        return start, copied_end if self._copy[j] else self._source_end[j]


def fold(text: str) -> Folded:
    """`text` folded for comparison (see the module's docstring), with the map back to it."""
    out = Folded(text)
    parts: list[str] = []
    size = 0  # folded characters so far
    n = len(text)
    pos = 0  # text[:pos] is folded

    def emit(f: str, s: int, e: int) -> None:
        nonlocal pos, size
        if s > pos:
            out._segment(size, pos, s, True)
            parts.append(text[pos:s].lower())
            size += s - pos
        if f:
            out._segment(size, s, e, False)
            parts.append(f)
            size += len(f)
        pos = e

    special = _SPECIAL_OR_SPACES if "  " in text else _SPECIAL
    for m in special.finditer(text):
        s = m.start()
        if s < pos:
            continue  # inside a whitespace run or a pair already folded
        c = text[s]
        nxt = text[s + 1] if s + 1 < n else ""
        if c.isspace():  # the whole run, spaces before it included, is one space
            while s > pos and text[s - 1] == " ":
                s -= 1
            e = m.end()
            while e < n and text[e].isspace():
                e += 1
            emit(" ", s, e)
        elif c == "\\":
            if nxt in _LATEX_ESCAPED and nxt:
                emit(nxt, s, s + 2)
            else:
                emit("\\", s, s + 1)
        elif c in "'`":
            if nxt == c:  # LaTeX ``quotes''
                emit('"', s, s + 2)
            else:
                emit("'", s, s + 1)
        else:
            f = _fold_char(c)
            if f or not unicodedata.combining(c) or (s == pos and not parts):
                emit(f, s, s + 1)
                continue
            # A combining mark folds to nothing but belongs to the letter before it: widen that
            # letter's source, so a match ending on "a" of "a\u0300" covers the accent too.
            emit("", s, s)
            if out._copy[-1]:
                last = out._source_start[-1] + (size - 1 - out._first[-1])
                out._segment(size - 1, last, s + 1, False)
            else:
                out._source_end[-1] = s + 1
            pos = s + 1
    emit("", n, n)
    out.text = "".join(parts)
    return out


def fold_string(text: str) -> str:
    """The folded form of a needle: what `locate` compares at the normalized level."""
    return fold(text).text.strip(" ")


# --- texts -----------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


class Text:
    """One field of a paper. Its folded form is built on first need, so a
    string found verbatim costs nothing more than `str.find`.

    `blocked` holds original-offset ranges that may not ground anything (instruction-like text,
    see ground.py); `urls` the URLs' ranges, which may not ground a name (GUIDELINES.md: a name
    that appears only inside a URL is not listed).
    """

    __slots__ = ("_folded", "_ranges", "blocked", "field", "text", "urls")

    def __init__(
        self,
        field: FieldName,
        text: str,
        blocked: Sequence[tuple[int, int]] = (),
        urls: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.field: FieldName = field
        self.text = text
        self.blocked = tuple(blocked)
        self.urls = tuple(urls)
        self._folded: Folded | None = None
        self._ranges: dict[bool, tuple[list[int], list[int]]] = {}

    def folded(self) -> Folded:
        if self._folded is None:
            self._folded = fold(self.text)
        return self._folded

    def guarded(self, outside_urls: bool) -> bool:
        """Whether any range may reject a match (else `is_blocked` need not be asked)."""
        return bool(self.blocked or (outside_urls and self.urls))

    def is_blocked(self, start: int, end: int, outside_urls: bool = False) -> bool:
        # A bisect in the ranges' union: asking each range made a name repeated in a long,
        # much-blocked text quadratic (each of its occurrences asked every range).
        starts, ends = self._ranges.get(outside_urls) or self._union(outside_urls)
        i = bisect_left(starts, end) - 1  # the last range that starts before `end`
        return i >= 0 and ends[i] > start

    def _union(self, outside_urls: bool) -> tuple[list[int], list[int]]:
        ranges = sorted((*self.blocked, *(self.urls if outside_urls else ())))
        starts: list[int] = []
        ends: list[int] = []
        for a, b in ranges:
            if a >= b:
                continue  # empty: overlaps nothing
            if ends and a < ends[-1]:
                ends[-1] = max(ends[-1], b)
            else:
                starts.append(a)
                ends.append(b)
        self._ranges[outside_urls] = (starts, ends)
        return starts, ends


def _find(hay: str, needle: str, whole_word: bool, start: int = 0) -> int:
    """First offset >= `start` of `needle` in `hay`, at word boundaries when asked; else -1."""
    # A name must not be a piece of a longer word: "BERT" is not in "RoBERTa".
    check_start = whole_word and needle[0].isalnum()
    check_end = whole_word and needle[-1].isalnum()
    n = len(needle)
    i = hay.find(needle, start)
    while i >= 0:
        if not (check_start and i > 0 and hay[i - 1].isalnum()) and not (
            check_end and i + n < len(hay) and hay[i + n].isalnum()
        ):
            return i
        i = hay.find(needle, i + 1)
    return -1


def word_spans(hay: str, needle: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """Every whole-word occurrence of `needle` inside `hay[lo:hi]`, by `str.find`: a regex per
    name would be compiled anew for every paper's names (re's cache holds 512 patterns)."""
    hi = len(hay) if hi is None else hi
    out: list[tuple[int, int]] = []
    if not needle:
        return out
    i = _find(hay, needle, True, lo)
    while i >= 0 and i + len(needle) <= hi:
        out.append((i, i + len(needle)))
        i = _find(hay, needle, True, i + 1)
    return out


def locate(
    needle: str,
    texts: Sequence[Text],
    *,
    whole_word: bool = False,
    outside_urls: bool = False,
    fuzzy: bool = False,
    min_score: float = FUZZY_MIN_SCORE,
) -> Match | None:
    """Where `needle` stands in `texts` (searched in the order given), or None.

    `whole_word`: the match may not start or end inside a word of the text.
    `outside_urls`: the match may not overlap a URL of the text (`Text.urls`).
    `fuzzy`: allow the bounded fuzzy level (similarity >= `min_score`).
    Matches overlapping a text's blocked ranges are skipped.
    """
    needle = needle.strip()
    if not needle:
        return None
    n = len(needle)
    for t in texts:
        guarded = t.guarded(outside_urls)
        i = _find(t.text, needle, whole_word)
        while i >= 0:
            if not guarded or not t.is_blocked(i, i + n, outside_urls):
                return Match(t.field, i, i + n, "exact")
            i = _find(t.text, needle, whole_word, i + 1)
    folded_needle = fold_string(needle)
    if not folded_needle:
        return None
    n = len(folded_needle)
    for t in texts:
        guarded = t.guarded(outside_urls)
        folded = t.folded()
        i = _find(folded.text, folded_needle, whole_word)
        while i >= 0:
            s, e = folded.source(i, i + n)
            if not guarded or not t.is_blocked(s, e, outside_urls):
                return Match(t.field, s, e, "normalized")
            i = _find(folded.text, folded_needle, whole_word, i + 1)
    if fuzzy:
        for t in texts:
            m = _fuzzy(folded_needle, t, min_score, outside_urls)
            if m is not None:
                return m
    return None


_TOKEN = re.compile(r"\S+")
_LOOSE_MAX_WORDS = 4
_OPENERS = "([{\"'\u201c\u2018"
_CLOSERS = ".,;:!?)]}\"'\u201d\u2019"


def loose_key(s: str) -> str:
    """EVAL.md's name key (letters and digits only, casefolded): "GPT4", "gpt-4" and "GPT 4"
    are one name."""
    return text_key(s)


def locate_loose(needle: str, texts: Sequence[Text], *, outside_urls: bool = True) -> Match | None:
    """A name that differs from the text's spelling only in punctuation, spacing or case
    ("GPT4" for "GPT-4", "LLaVA15" for "LLaVA-1.5"): the text's span, when exactly one
    spelling of the text has that key. Two ("Qwen2-1.5B" and "Qwen2-15B" for "Qwen2-15B") say
    the name is ambiguous, and nothing is returned."""
    key = loose_key(needle)
    if len(key) < 3:
        return None
    found: dict[str, Match] = {}
    for t in texts:
        if key[0] not in t.text.casefold():
            continue
        words = [m.span() for m in _TOKEN.finditer(t.text)]
        for i in range(len(words)):
            for j in range(i, min(i + _LOOSE_MAX_WORDS, len(words))):
                s, e = words[i][0], words[j][1]
                while s < e and t.text[s] in _OPENERS:
                    s += 1
                while e > s and t.text[e - 1] in _CLOSERS:
                    e -= 1
                k = loose_key(t.text[s:e])
                if len(k) > len(key) or not key.startswith(k):
                    break
                if k == key and not t.is_blocked(s, e, outside_urls):
                    found.setdefault(t.text[s:e], Match(t.field, s, e, "normalized"))
    return next(iter(found.values())) if len(found) == 1 else None


# --- fuzzy -----------------------------------------------------------------------------------


def _best_end(pattern: str, text: str) -> tuple[int, int]:
    """Fewest edits turning `pattern` into some substring of `text` ending at `end`, as
    (edits, end), earliest end on ties. Myers (1999) in Hyyrö's formulation, with free start."""
    m = len(pattern)
    peq: dict[str, int] = {}
    bit = 1
    for c in pattern:
        peq[c] = peq.get(c, 0) | bit
        bit <<= 1
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = full, 0, m
    best, best_end = m, 0
    for j, c in enumerate(text):
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = (ph << 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
        if score < best:
            best, best_end = score, j + 1
    return best, best_end


def best_alignment(pattern: str, text: str) -> tuple[int, int, int]:
    """(edits, start, end) of the substring of `text` closest to `pattern` in edit distance."""
    dist, end = _best_end(pattern, text)
    # The start is where the reversed pattern best ends in the reversed text before `end`.
    _, back = _best_end(pattern[::-1], text[:end][::-1])
    return dist, end - back, end


def _anchors(folded_needle: str, hay: str) -> list[tuple[int, str]]:
    """(offset in the needle, word) for the rarest distinctive words the text also holds."""
    words = [(w.start(), w.group()) for w in _WORD.finditer(folded_needle)]
    distinctive = [(o, w) for o, w in words if len(w) >= 4 or any(c.isdigit() for c in w)]
    counted = []
    for offset, word in distinctive or words:
        hits = hay.count(word)
        if 0 < hits <= _ANCHOR_MAX_HITS:
            counted.append((hits, offset, word))
    counted.sort()
    return [(offset, word) for _, offset, word in counted[:_ANCHORS]]


def _fuzzy(folded_needle: str, t: Text, min_score: float, outside_urls: bool) -> Match | None:
    m = len(folded_needle)
    max_edits = int(m * (1.0 - min_score) + 1e-9)
    if m < _FUZZY_MIN_LEN or m > _FUZZY_MAX_LEN or max_edits < 1:
        return None
    folded = t.folded()
    hay = folded.text
    votes: dict[int, int] = {}
    for offset, word in _anchors(folded_needle, hay):
        i = hay.find(word)
        while i >= 0:
            votes[i - offset] = votes.get(i - offset, 0) + 1
            i = hay.find(word, i + 1)
    # q-gram lemma: a string within k edits of the needle keeps all but at most q*k of the
    # needle's (m - q + 1) q-grams. Counting them is a few substring tests per window, where the
    # edit distance costs a step per window character, so hopeless windows are skipped first.
    grams = [folded_needle[i : i + 3] for i in range(m - 2)]
    need = len(grams) - 3 * max_edits
    best: Match | None = None
    tried: list[int] = []
    for guess in sorted(votes, key=lambda s: (-votes[s], s)):
        if len(tried) >= _MAX_WINDOWS:
            break
        if any(abs(guess - s) <= max_edits for s in tried):
            continue  # the same window, give or take the edits it allows
        tried.append(guess)
        lo = max(0, guess - max_edits)
        window = hay[lo : guess + m + max_edits]
        if sum(g in window for g in grams) < need:
            continue
        dist, end = _best_end(folded_needle, window)
        if dist > max_edits or 1.0 - dist / m < min_score:
            continue
        # The start is where the reversed needle best ends in the reversed text before `end`.
        _, back = _best_end(folded_needle[::-1], window[:end][::-1])
        a, b = end - back, end
        while a < b and window[a] == " ":
            a += 1
        while b > a and window[b - 1] == " ":
            b -= 1
        if b <= a:
            continue
        s, e = folded.source(lo + a, lo + b)
        if t.is_blocked(s, e, outside_urls):
            continue
        score = round(1.0 - dist / m, 4)
        if best is None or score > best.score:
            best = Match(t.field, s, e, "fuzzy", score)
    return best


# --- numbers ---------------------------------------------------------------------------------

# A number at digit boundaries: "5" is not a number inside "65", "0.5" or "5.2". "1,000" is one
# number; a trailing sentence period is not a decimal point. Signs are left out: "5-8%" holds 5
# and 8, and a model may give a drop as -2.1 or as 2.1. No lookbehind (it makes the scan ~3x
# slower): the scan is left to right and greedy, so a match never starts inside a number, except
# after a decimal point (".5"), which numbers_in reads as a fraction.
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def numbers_in(text: str) -> list[float]:
    """The numbers `text` writes, unsigned, in order."""
    out = []
    for m in _NUMBER.finditer(text):
        digits = m.group().replace(",", "")
        i = m.start()
        if i and text[i - 1] == ".":
            if i > 1 and text[i - 2].isdigit():
                continue  # the third part of "1.2.3": a version, not a number
            digits = "0." + digits.replace(".", "")  # ".5"
        out.append(float(digits))
    return out


def value_in_text(value: float, text: str) -> bool:
    """Whether `text` writes `value` as a number at the scale given (85.3 is in "85.3%", 3.0
    is in "3x"; 0.853 is not in "85.3%", 5 is not in "65" or "5.2")."""
    target = abs(value)
    if _written_plainly(target, text):
        return True
    tol = 1e-9 * max(1.0, target)
    return any(abs(n - target) <= tol for n in numbers_in(text))


def _written_plainly(target: float, text: str) -> bool:
    """The hot path: the shortest spelling of the value ("5", "85.3") standing alone in the text.
    Only ever answers True when numbers_in would; anything unusual goes to numbers_in."""
    spelled = f"{target:.12g}"
    n = len(spelled)
    i = text.find(spelled)
    while i >= 0:
        b1 = text[i - 1] if i else " "
        b2 = text[i - 2] if i > 1 else " "
        after = text[i + n : i + n + 2]
        if not (b1.isalnum() or b1 == "." or (b1 in "+-" and b2 in "eE")) and (
            not after
            or not (after[0].isdigit() or after[0] in ".,eE")
            or (after[0] in ".," and not after[1:].isdigit())
        ):
            return True
        i = text.find(spelled, i + 1)
    return False
