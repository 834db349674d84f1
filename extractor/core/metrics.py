"""The metric vocabulary: canonical names, the spellings that mean them, and their direction.

One table serves two readers. Attribution (core/attribution.py) finds metric phrases in a
sentence ("an F 1-score of 83.7%", "93.55 F1", "improving execution accuracy from 35.9%") and
writes them in their canonical spelling; the leaderboard merges "Acc." with "accuracy" and
knows that the best FID is the lowest one.

A metric phrase is a head from the table, the modifiers written before it that narrow it
("execution accuracy", "word-level perplexity", "token error") and a trailing "score" that
adds nothing ("BLEU score" is BLEU). Modifiers are kept as written: the text's own name for
the metric is the most faithful one, and the head's canonical spelling still merges them in a
table (`head_key`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Direction = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Metric:
    name: str  # canonical spelling
    spellings: tuple[str, ...]  # regex fragments, matched case-insensitively unless `exact`
    direction: Direction = "higher"
    exact: bool = False  # case matters: "IS", "EM", "AP" are words in lower case
    needs_modifier: bool = False  # "time", "score", "speed" alone measure nothing named


_H: Direction = "higher"
_L: Direction = "lower"
# PDF text splits "F1" into "F 1"; hyphenation leaves "perplex-ity".
VOCABULARY: tuple[Metric, ...] = (
    Metric("top-1 accuracy", (r"top-?1\s+acc(?:uracy|\.)?", r"top-?1"), _H),
    Metric("top-5 accuracy", (r"top-?5\s+acc(?:uracy|\.)?", r"top-?5"), _H),
    Metric("exact match", (r"exact[- ]match(?:\s+accuracy)?",), _H),
    Metric("EM", (r"EM",), _H, exact=True),
    Metric("accuracy", (r"accurac(?:y|ies)", r"acc\.?(?=\s|$|[,;)])"), _H),
    Metric("F1", (r"F[- ]?1(?:[- ]?(?:scores?|measure))?", r"F1@\d+"), _H),
    Metric("F0.5", (r"F[- ]?0\.5",), _H),
    Metric("F-score", (r"F[- ]?(?:scores?|measure)",), _H),
    Metric("precision", (r"precision",), _H),
    Metric("recall", (r"recall",), _H),
    Metric("Recall@k", (r"(?:R|Recall)@\d+",), _H, exact=True),
    Metric("Hits@k", (r"Hits?@\d+",), _H),
    Metric("NDCG", (r"n?DCG(?:@\d+)?",), _H),
    Metric("MRR", (r"MRR",), _H, exact=True),
    Metric("mean reciprocal rank", (r"mean\s+reciprocal\s+rank",), _H),
    Metric("mAP", (r"mAP(?:@[\d.]+)?", r"mean\s+average\s+precision"), _H),
    Metric("AP", (r"AP(?:50|75|_?[SML])?",), _H, exact=True),
    Metric("mIoU", (r"mIoU",), _H),
    Metric("IoU", (r"IoU",), _H),
    Metric("AUC", (r"AU(?:RO)?C",), _H),
    Metric("pass@k", (r"pass@\d+",), _H),
    Metric("BLEU", (r"BLEU(?:-\d|@\d)?(?:\s+scores?)?",), _H),
    Metric("GLEU", (r"GLEU",), _H),
    Metric("ROUGE", (r"ROUGE(?:-(?:\d|L|SU4))?(?:\s+scores?)?",), _H),
    Metric("METEOR", (r"METEOR",), _H),
    Metric("CIDEr", (r"CIDEr",), _H),
    Metric("SPICE", (r"SPICE",), _H, exact=True),
    Metric("chrF", (r"chrF\+*",), _H),
    Metric("TER", (r"TER",), _L, exact=True),
    Metric("Smatch", (r"SMATCH",), _H),
    Metric("UAS", (r"UAS",), _H, exact=True),
    Metric("LAS", (r"LAS",), _H, exact=True),
    Metric("WER", (r"WER", r"word\s+error\s+rates?"), _L),
    Metric("CER", (r"CER", r"character\s+error\s+rates?"), _L),
    Metric("error rate", (r"error\s+rates?",), _L),
    Metric("error", (r"errors?",), _L),
    Metric("perplexity", (r"perplex-?\s?it(?:y|ies)", r"PPL"), _L),
    Metric("bpc", (r"BPC", r"bits?[- ]per[- ]char(?:acter)?"), _L),
    Metric("entropy", (r"(?:cross-?)?entrop(?:y|ies)",), _L),
    Metric("FID", (r"FID",), _L),
    Metric("FVD", (r"FVD",), _L),
    Metric("IS", (r"IS", r"inception\s+score"), _H, exact=True),
    Metric("CLIP score", (r"CLIP[- ]?(?:score|T|I)",), _H),
    Metric("PSNR", (r"PSNR",), _H),
    Metric("SSIM", (r"SSIM",), _H),
    Metric("LPIPS", (r"LPIPS",), _L),
    Metric("MAE", (r"MAE",), _L, exact=True),
    Metric("RMSE", (r"RMSE",), _L),
    Metric("MSE", (r"MSE",), _L),
    Metric("win rate", (r"win\s+rates?",), _H),
    Metric("success rate", (r"success\s+rates?",), _H),
    Metric("hallucination rate", (r"hallucination(?:\s+rates?)?",), _L),
    Metric("consistency", (r"consistency",), _H),
    Metric("latency", (r"latenc(?:y|ies)",), _L),
    Metric("throughput", (r"throughput",), _H),
    Metric("FLOPs", (r"FLOPs?", r"GFLOPs"), _L),
    Metric("parameters", (r"param(?:eter)?s",), _L),
    Metric("memory", (r"memory(?:\s+(?:usage|footprint|consumption))?",), _L),
    Metric("cost", (r"costs?",), _L, needs_modifier=True),
    Metric("time", (r"times?",), _L, needs_modifier=True),
    Metric("speed", (r"speed",), _H, needs_modifier=True),
    Metric("score", (r"scores?",), _H, needs_modifier=True),
)

# Words that may stand before a head as part of the metric's name: not these, which say how
# a number relates to the metric, not which metric it is.
_NOT_MODIFIERS = frozenset(
    """a an the of our its their this these that his her on in for by to at with and or as from
    over than is are was were be been achieve achieves achieved achieving reach reaches reached
    reaching obtain obtains obtained obtaining attain attains attained improve improves improved
    improving increase increases increased increasing boost boosts boosted boosting reduce reduces
    reduced reducing yield yields yielded yielding give gives gave show shows showed get gets got
    report reports reported gain gains outperform outperforms surpass surpasses higher lower better
    best worse new competitive strong significant significantly absolute relative average averaged
    mean overall test dev development validation state-of-the-art sota art previous prior current
    baseline high low good great large small top up about around nearly approximately roughly only
    more less same similar comparable total final single final-layer respective respectively both
    all each per which while when where using use used has have had can could would will may
    substantial considerable remarkable impressive notable reported higher-is-better also
    further fewer longer shorter faster slower smaller larger bigger cheaper additional extra
    without introducing requiring adding keeping maintaining preserving saving number amount
    lower-is-better set sets test-set dev-set held-out heldout""".split()  # noqa: SIM905 (a word list reads better as words)
)
_MODIFIER = re.compile(r"[A-Za-z][\w&@./+-]*")
_SCORE_AFTER = re.compile(r"[- ](?:scores?|measures?|values?|metrics?)\b", re.IGNORECASE)


def _compile() -> tuple[re.Pattern[str], list[Metric]]:
    parts: list[str] = []
    order: list[Metric] = []
    # Longer spellings first, so "word error rate" is one metric and not "error rate".
    frags = [(frag, m) for m in VOCABULARY for frag in m.spellings]
    frags.sort(key=lambda fm: -len(fm[0]))
    for i, (frag, m) in enumerate(frags):
        body = frag if m.exact else f"(?i:{frag})"
        parts.append(f"(?P<m{i}>{body})")
        order.append(m)
    pattern = r"(?<![\w@-])(?:" + "|".join(parts) + r")(?![\w@])"
    return re.compile(pattern), order


_PATTERN, _ORDER = _compile()


@dataclass(frozen=True, slots=True)
class Mention:
    """A metric phrase of a text: `text[start:end]` as written, `name` as it is written out."""

    start: int
    end: int
    name: str
    metric: Metric


def _modifiers(text: str, head_start: int, lo: int) -> int:
    """Where the metric phrase ending in the head at `head_start` starts: up to three words
    before it that name which metric it is ("logical form accuracy")."""
    start = head_start
    for _ in range(3):
        j = start
        while j > lo and text[j - 1] == " ":
            j -= 1
        if j == start or j <= lo:
            break
        k = j
        while k > lo and not text[k - 1].isspace() and text[k - 1] not in "(,;:\"'":
            k -= 1
        word = text[k:j]
        if not _MODIFIER.fullmatch(word) or word.lower() in _NOT_MODIFIERS:
            break
        if any(c.isdigit() for c in word) and "@" not in word:
            break
        start = k
    return start


def find_metrics(text: str, lo: int = 0, hi: int | None = None) -> list[Mention]:
    """Every metric phrase in `text[lo:hi]`, in reading order."""
    hi = len(text) if hi is None else hi
    out: list[Mention] = []
    for m in _PATTERN.finditer(text, lo, hi):
        metric = _ORDER[int(m.lastgroup[1:])]  # type: ignore[index]
        start = _modifiers(text, m.start(), lo)
        end = m.end()
        if (after := _SCORE_AFTER.match(text, end, hi)) and metric.name != "score":
            end_written = after.end()
        else:
            end_written = end
        if metric.needs_modifier and start == m.start():
            continue
        name = _spell(text[start : m.start()], metric, text[m.start() : m.end()])
        out.append(Mention(start, end_written, name, metric))
    return out


def _spell(modifiers: str, metric: Metric, head: str) -> str:
    """The phrase as a table should show it: modifiers as written, the head canonical where
    the vocabulary says what it stands for (a family like ROUGE-L or R@5 keeps its member)."""
    if metric.name in ("Recall@k", "Hits@k", "NDCG", "pass@k", "mAP", "AP", "ROUGE", "BLEU"):
        head = re.sub(r"\s+scores?$", "", head, flags=re.IGNORECASE)
        if metric.name == "BLEU" and head.upper() == "BLEU":
            head = "BLEU"
    elif metric.needs_modifier:
        # a metric is named in the singular: "response times" measure "response time"
        head = re.sub(r"(?<=[a-z])s$", "", head.lower())
    else:
        head = metric.name
    modifiers = " ".join(modifiers.split())
    return f"{modifiers} {head}" if modifiers else head


_LEAD = re.compile(r"\s*\(?\s*")


def metric_at(text: str) -> Metric | None:
    """The metric `text` starts with, after spaces and an opening bracket ("(F 0.5) on")."""
    m = _PATTERN.match(text, _LEAD.match(text).end())  # type: ignore[union-attr]
    if m is None:
        return None
    metric = _ORDER[int(m.lastgroup[1:])]  # type: ignore[index]
    return None if metric.needs_modifier else metric


@lru_cache(maxsize=4096)
def lookup(name: str) -> Metric | None:
    """The vocabulary entry a metric name ends in ("logical form accuracy" -> accuracy)."""
    name = unicodedata.normalize("NFKC", name).strip()
    found = None
    for m in _PATTERN.finditer(name):
        found = _ORDER[int(m.lastgroup[1:])]  # type: ignore[index]
    return found


def direction(name: str | None) -> Direction | None:
    """Higher or lower is better, for a metric the vocabulary knows; None otherwise."""
    if not name:
        return None
    m = lookup(name)
    return m.direction if m else None


def head_key(name: str) -> str:
    """A key that merges spellings of one metric: the canonical head with the modifiers folded
    ("Acc." and "accuracy" -> "accuracy", "word-level perplexity" -> "word level perplexity")."""
    found = find_metrics(name)
    if not found:
        return " ".join(re.findall(r"[a-z0-9@.]+", name.casefold()))
    return " ".join(re.findall(r"[a-z0-9@.]+", found[-1].name.casefold()))
