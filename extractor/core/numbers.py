r"""The number miner: every number of a title and abstract that could be a reported result.

Each candidate carries its exact span, its value at the written scale, its canonical unit and
its clause (the evidence). The model never copies numbers or evidence: it points at a
candidate's id, so value, unit and evidence are exact by construction (issue 8).

What is mined: digits with an optional sign (`-1.5%`, `+4.6`), thousands separators (`1,024`),
decimals; a unit right after, with or without a space (`%`, `\%`, `x`, `×`, `$\times$`,
`times`, `fold`/`-fold`, `points`, `pp`, time, memory and speed units); both ends of a range
(`5-8%`, `3%-9%`, `from 54% to 76%`, `+1.4 to +4.2`), the first end taking the second's unit.
LaTeX that lost its markup on the way to plain text is read too (`\sim20\times` -> `sim20times`).

What is skipped, because it is never a result: numbers inside names and versions (`GPT-4`,
`Qwen2.5`, `LLaVA-1.5`, `4M-21`, `R@1`, `InternVL 1.5`), parameter sizes and counts with a
magnitude suffix (`7B`, `8x7B`, `13K`), years, citation and section markers (`[12]`,
`Section 3`, `Table 2`), and everything inside a URL.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FieldName = Literal["title", "abstract"]

# Bump when what is mined, or how candidates are numbered, changes: candidate ids are in the
# prompt and in cached answers, so this is part of the prompt version.
MINER_VERSION = "4"


@dataclass(frozen=True, slots=True)
class Number:
    """One candidate. `text[start:end]` is the number with its sign and unit as written;
    `clause` is the span of the shortest clause holding it (the evidence)."""

    id: str
    field: FieldName
    start: int
    end: int
    value: float
    unit: str | None
    clause: tuple[int, int]
    sentence: tuple[int, int]
    written: str


# --- units -------------------------------------------------------------------------------------

# (pattern after the number, canonical unit). Tried in order at the number's end, after an
# optional space; the first that matches at a word boundary wins.
_UNITS: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(p, re.IGNORECASE if ci else 0), unit)
    for p, unit, ci in (
        (r"\+?\s?\\?%", "%", False),  # "1.5+%": more than 1.5%
        (r"\s?(?:percentage|percent)\s+points?\b", "points", True),
        (r"\s?p\.p\.", "points", False),
        (r"\s?pp\b", "points", False),
        (r"\s?(?:percent|percentage)\b", "%", True),
        (r"(?:-|\s)?(?:points?|pts)\b", "points", True),
        (r"\s?\$?\\times\$?", "x", False),
        (r"\s?×", "x", False),
        (r"(?:-|\s)?fold\b", "x", True),
        (r"\+?\s?times\b(?!\s?\d)", "x", True),
        (r"\s?[xX](?![\w.-]*\d)\b", "x", False),
        (r"\s?(?:ms|milliseconds?)\b", "ms", False),
        (r"\s?(?:GPU[- ])?(?:hours?|hrs?|h)\b", "hours", False),
        (r"\s?(?:minutes?|mins?)\b", "minutes", False),
        (r"\s?(?:seconds?|secs?|s)\b", "seconds", False),
        (r"\s?days?\b", "days", False),
        (r"\s?(?:TB|GB|MB|KB|GiB|MiB|TiB)\b", None, False),  # the unit as written
        (r"\s?(?:FPS|fps)\b", "FPS", False),
        (r"\s?(?:bits?/char(?:acter)?|bits?\s+per\s+char(?:acter)?)\b", "bits/char", True),
        (r"\s?(?:tokens?/s|it/s|Hz|dB)\b", None, False),
    )
]
# A magnitude right after the digits makes a size or a count ("7B", "13K samples", "1.5M"),
# never a result.
_MAGNITUDE = re.compile(r"\s?(?:[BMKT]\b|(?i:billion|million|thousand)\b|[kK]\b)")
# "224 x 224", "2048×2048": the two sides of a size.
_DIMENSION = re.compile(r"\s?[xX×]\s?\d")
_DIMENSION_BEFORE = re.compile(r"\d\s?[xX×]\s?$")
# "8x7B": a mixture's size, not a speed-up.
_MIXTURE = re.compile(r"[xX×]\d+(?:\.\d+)?[BMK]\b")

# --- numbers -----------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d{1,3}(?:,\d{3})+(?![\d,])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")
_SIGN = "+-−–"
# Words before a number that make it a reference, not a measurement.
_MARKER_BEFORE = re.compile(
    r"(?:section|sec\.|table|tab\.|figure|fig\.|eq\.|equation|appendix|chapter|step|stage|"
    r"phase|version|v\.|top|level|layer|task|subtask|track|round|part|no\.|#)(?:\s*|-)$",
    re.IGNORECASE,
)
# A token made like a model name ("InternVL", "GPT", "MiniCPM-V", "Qwen") right before a bare
# number makes that number its version ("InternVL 1.5").
_NAME_BEFORE = re.compile(
    r"(?:\b[A-Z][A-Za-z]*[A-Z][A-Za-z-]*|\b(?:Llama|Qwen|Gemini|Claude|Phi|Mistral|Vicuna|Falcon|Gemma|Yi|Stable Diffusion|Diffusion))\s$"
)
_RANGE_JOIN = re.compile(r"\s*(?:-|–|—|−|~|to|and)\s*")
_METRIC_BEFORE = re.compile(
    r"\b(?:BLEU|GLEU|ROUGE(?:-\w+)?|METEOR|CIDEr|SPICE|FID|FVD|PSNR|SSIM|LPIPS|SMATCH|Smatch|"
    r"UAS|LAS|EM|MRR|AUC|WER|CER|TER|mAP|mIoU|F1|PPL)\s$"
)
_PDF_METRIC = re.compile(r"(?<![\w.])F\s$")
_LATEX_PREFIX = re.compile(r"(?:\\?sim|\\approx|approx|~|∼|≈)$")


def _value(digits: str) -> float:
    return float(digits.replace(",", ""))


def _unit_at(text: str, pos: int) -> tuple[str | None, int]:
    """The canonical unit written at `pos` (just after the digits) and where it ends."""
    for pattern, unit in _UNITS:
        m = pattern.match(text, pos)
        if m:
            written = m.group().strip().lstrip("-")
            return (unit or written), m.end()
    return None, pos


def _inside_word_before(text: str, start: int) -> bool:
    """The digits at `start` continue a word: a name, a version, a metric like R@1."""
    if start == 0:
        return False
    prev = text[start - 1]
    if prev.isalpha():
        # "sim20times": LaTeX's \sim lost its backslash, not a name.
        return not _LATEX_PREFIX.search(text, max(0, start - 7), start)
    return bool(prev.isdigit() or prev in "_@^/.#")


_WORD_BEFORE_HYPHEN = re.compile(r"([A-Za-z0-9.]+)[-–]$")
_LOWER_NAMES = frozenset({"gpt", "llama", "qwen", "davinci", "v", "vicuna", "gemini", "claude"})


def _name_before_hyphen(text: str, start: int) -> bool:
    """ "GPT-4", "LLaVA-1.5", "4M-21" (a version), not "datasets-97.55%" (a dash that lost its
    spaces in a PDF) nor "5-8%" (a range)."""
    m = _WORD_BEFORE_HYPHEN.search(text, max(0, start - 40), start)
    if m is None:
        return False
    word = m.group(1)
    if word[-1].isdigit() and not any(c.isalpha() for c in word):
        return False  # a range
    return any(c.isupper() or c.isdigit() for c in word) or word.lower() in _LOWER_NAMES


def _inside_word_after(text: str, end: int) -> bool:
    """Letters glued to the digits that are not a unit: "3D", "2nd", "4M-21"."""
    return end < len(text) and (text[end].isalpha() or text[end] == "_")


def _is_year(digits: str, unit: str | None) -> bool:
    return unit is None and len(digits) == 4 and digits.isdigit() and 1900 <= int(digits) <= 2099


@dataclass(slots=True)
class _Raw:
    start: int
    end: int  # end of the unit (or of the digits)
    digits_end: int
    value: float
    unit: str | None


_A_DIGIT = re.compile(r"[0-9]")


def _digit_runs(text: str) -> list[tuple[int, int]]:
    """The spans `_DIGITS.finditer` would give, found from each digit on: scanning a whole
    abstract with the alternation costs ~6x more than finding digits and matching there."""
    out = []
    pos = 0
    while (found := _A_DIGIT.search(text, pos)) is not None:
        start = found.start()
        if start > 0 and text[start - 1] == "." and (start < 2 or not text[start - 2].isdigit()):
            start -= 1  # ".5"
        m = _DIGITS.match(text, start)
        assert m is not None  # a digit, or a dot before one, always starts a run
        out.append(m.span())
        pos = m.end()
    return out


_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;–-]\s*\d+)*\s*\]")


def _scan(text: str, excluded: Sequence[tuple[int, int]]) -> list[_Raw]:
    out: list[_Raw] = []
    if "[" in text:
        excluded = [*excluded, *(m.span() for m in _CITATION.finditer(text))]
    for start, digits_end in _digit_runs(text):
        if excluded and any(a <= start < b for a, b in excluded):
            continue
        digits = text[start:digits_end]
        if digits.startswith(".") and start > 0 and text[start - 1].isdigit():
            continue
        if _inside_word_before(text, start):
            continue
        if _DIMENSION.match(text, digits_end) or _DIMENSION_BEFORE.search(
            text, max(0, start - 8), start
        ):
            continue  # "224 x 224 pixels": a size, not a factor
        if _MIXTURE.match(text, digits_end) or _MAGNITUDE.match(text, digits_end):
            continue
        unit, end = _unit_at(text, digits_end)
        if unit is None and _name_before_hyphen(text, start):
            continue
        if unit is None and _inside_word_after(text, digits_end):
            continue
        if unit is None and digits_end < len(text) - 1 and text[digits_end] in "-–":
            nxt = text[digits_end + 1]
            if nxt.isalpha() and not re.match(r"[-–](?:fold|points?)\b", text[digits_end:]):
                continue  # "4M-21" done above; "3-shot", "2-layer", "7-day"
        if unit is None and text.startswith(")", digits_end) and "." not in digits:
            continue  # an enumeration: "(1)", "2)"
        before = text[max(0, start - 24) : start]
        if _MARKER_BEFORE.search(before):
            continue
        if unit is None and _NAME_BEFORE.search(before) and not _METRIC_BEFORE.search(before):
            continue  # "InternVL 1.5" is a version; "BLEU 33.8" a score
        if text[max(0, start - 1) : start] == "±" or _PDF_METRIC.search(before):
            continue  # "91.71±0.10": a spread; "F 1", "F 0.5": a metric's name split by a PDF
        if _is_year(digits, unit):
            continue
        value = _value(digits)
        # A sign counts when it stands alone before the digits ("-1.5%", "+4.6"), not when it
        # joins a range ("5-8%") or a name.
        if start > 0 and text[start - 1] in _SIGN:
            s = start - 1
            if s == 0 or not (text[s - 1].isalnum() or text[s - 1] in ".%"):
                if text[s] != "+":
                    value = -value
                start = s
        out.append(_Raw(start, end, digits_end, value, unit))
    _share_range_units(text, out)
    return out


def _share_range_units(text: str, raws: list[_Raw]) -> None:
    """ "5-8%", "from 1.4 to 4.2 points": the first end of a range takes the second's unit."""
    for a, b in itertools.pairwise(raws):
        if a.unit is not None or b.unit is None:
            continue
        join = text[a.end : b.start]
        if (
            _RANGE_JOIN.fullmatch(join)
            or join in "-–−"
            or (join.strip() in {"", "-", "–"} and b.start - a.end <= 1)
        ):
            a.unit = b.unit


# --- clauses -----------------------------------------------------------------------------------

# Not after the abbreviations of citations and examples: "Vaswani et al. (2017)", "e.g. X".
_ABBREVIATION = r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bcf)(?<!\bresp)(?<!\bFig)(?<!\bEq)"
_SENTENCE_BREAK = re.compile(rf"{_ABBREVIATION}(?:(?<!\d)[.!?](?=\s|$)|\.(?=\s+[A-Z]))|[;\n]")
_CLAUSE_BREAK = re.compile(r",\s|\s(?:while|whereas|but)\s|:\s")
_MIN_CLAUSE_WORDS = 4


class Sentences:
    """Where a text's sentences break, found once: each number's sentence is then a bisect,
    not a scan from the start of the text (which made mining quadratic in long texts)."""

    __slots__ = ("_ends", "_starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        breaks = [m.span() for m in _SENTENCE_BREAK.finditer(text)]
        self._starts = [b for b, _ in breaks]  # where a break begins: a sentence ends there
        self._ends = [e for _, e in breaks]  # where a break ends: the next sentence begins

    def of(self, pos: int) -> tuple[int, int]:
        i = bisect_right(self._ends, pos)
        start = self._ends[i - 1] if i else 0
        j = bisect_left(self._starts, pos)
        return start, self._starts[j] if j < len(self._starts) else len(self.text)


class _Cuts:
    """Where a sentence's clauses break, found once for all its numbers."""

    __slots__ = ("ends", "starts")

    def __init__(self, text: str, s0: int, e0: int) -> None:
        spans = [m.span() for m in _CLAUSE_BREAK.finditer(text, s0, e0)]
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]


_WORD = re.compile(r"\S+")


def _few_words(text: str, lo: int, hi: int) -> bool:
    """Fewer than `_MIN_CLAUSE_WORDS` words in text[lo:hi], counted no further than needed."""
    return all(i < _MIN_CLAUSE_WORDS for i, _ in enumerate(_WORD.finditer(text, lo, hi), 1))


def clause_of(
    text: str,
    start: int,
    end: int,
    sentences: Sentences | None = None,
    cuts: dict[tuple[int, int], _Cuts] | None = None,
) -> tuple[int, int]:
    """The shortest clause around `text[start:end]` that still says something: the sentence cut
    at commas, parentheses and contrast words, widened until it has a few words."""
    s0, e0 = (sentences or Sentences(text)).of(start)
    cut = (cuts or {}).get((s0, e0))
    if cut is None:
        cut = _Cuts(text, s0, e0)
        if cuts is not None:
            cuts[(s0, e0)] = cut
    # the cuts' ends left of the number, and their starts right of it
    n_left = bisect_right(cut.ends, start)
    first_right = bisect_left(cut.starts, end)
    li, ri = n_left - 1, first_right
    cs = cut.ends[li] if li >= 0 else s0
    ce = cut.starts[ri] if ri < len(cut.starts) else e0
    while _few_words(text, cs, ce) and (li >= 0 or ri < len(cut.starts)):
        # widen towards the side with more words to gain
        if li >= 0:
            li -= 1
            cs = cut.ends[li] if li >= 0 else s0
        if not _few_words(text, cs, ce):
            break
        if ri < len(cut.starts):
            ri += 1
            ce = cut.starts[ri] if ri < len(cut.starts) else e0
    while cs < ce and text[cs] in " ,(":
        cs += 1
    while ce > cs and text[ce - 1] in " ,":
        ce -= 1
    return cs, ce


# --- the miner ---------------------------------------------------------------------------------


def mine_numbers(
    fields: Sequence[tuple[FieldName, str, Sequence[tuple[int, int]]]],
) -> tuple[Number, ...]:
    """Candidates of every field, numbered n1, n2, ... in reading order (title first).

    `fields` holds, per field, its name, its text and the ranges to skip (its URLs)."""
    out: list[Number] = []
    for field, text, excluded in fields:
        raws = _scan(text, excluded)
        if not raws:
            continue
        sentences = Sentences(text)
        cuts: dict[tuple[int, int], _Cuts] = {}
        for raw in raws:
            clause = clause_of(text, raw.start, raw.end, sentences, cuts)
            out.append(
                Number(
                    id=f"n{len(out) + 1}",
                    field=field,
                    start=raw.start,
                    end=raw.end,
                    value=raw.value,
                    unit=raw.unit,
                    clause=clause,
                    sentence=sentences.of(raw.start),
                    written=text[raw.start : raw.end],
                )
            )
    return tuple(out)
