"""Text that addresses the model rather than the reader ("Ignore previous instructions and ...").

Such text is in the paper, so plain grounding would accept whatever it asks for; the ranges
found here ground nothing (see ground.py). A heuristic against the common phrasings, not a
proof: an injection worded like ordinary prose grounds like ordinary prose.

A range holds only the words that give orders: the quotation around a quoted trigger, else the
trigger's sentence and the sentences beside it that go on giving orders; never the rest of the
paragraph, since a paper about prompt injection quotes "ignore previous instructions" and then
names its own models, benchmarks, results and code, which must still ground.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from extractor.core.normalize import lower_keep_offsets

# Phrases that address the model, not the reader. Each is found by `str.find` of its fixed start
# on the lowercased text, then checked by its pattern at that offset: one case-insensitive regex
# over the whole abstract costs ~100 us, and "instruction", "forget", "ignore" are common words
# in abstracts ("instruction tuning", "catastrophic forgetting"), so they cannot screen alone.
_ORDER_TAIL = (
    r"\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?"
    r"(?:previous|prior|above|preceding|earlier|former|system|original)\s+"
    r"(?:instructions?|prompts?|directions?|rules|guidelines|context)\b"
)
# (a fixed piece found by str.find, the pattern searched around it, how many characters the
# pattern may start before the piece, a character the pattern needs: when the text lacks it, a
# one-character test rules the pattern out without the slower multi-character find).
_TRIGGERS = [
    (piece, re.compile(pattern), back, needs)
    for piece, pattern, back, needs in (
        ("ignore", "ignore" + _ORDER_TAIL, 0, ""),
        ("disregard", "disregard" + _ORDER_TAIL, 0, ""),
        ("forget", "forget" + _ORDER_TAIL, 0, ""),
        ("override", "override" + _ORDER_TAIL, 0, ""),
        ("instruction", r"(?:new|updated)\s+instructions?\s*:", 12, ":"),
        ("you are now", r"you are now\s+(?:a|an|in)\b", 0, ""),
        ("system", r"system\s+(?:prompt|message)\s*:", 0, ":"),
        ("developer", r"developer\s+(?:prompt|message)\s*:", 0, ":"),
        ("<|", r"<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>", 0, "|"),
        ("inst]", r"\[/?inst\]", 2, "]"),
    )
]
# A sentence ends at . ! or ? (closing quotes or brackets included) before whitespace, or at a
# blank line. A single newline is whitespace: abstracts are often hard-wrapped, and ending a
# range at a line break would let an injection's payload run on to the next line.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s)|\n\s*\n")
# A sentence (or the rest of one, after a quoted trigger) that addresses the model: it opens
# with an imperative such as "Output ...", "Respond ...", or with a chat-template token. Only
# asked next to a trigger, so a noun like "Answer quality ..." costs at most that sentence.
_ORDER = (
    r"(?:(?:please|now|then|instead|also|finally|and|so)\b[,:]?\s+)*"
    r"(?:(?:output|respond|reply|print|say|return|write|list|answer|repeat|report|include"
    r"|append|add|insert|tell|state|claim|pretend|act\s+as|do\s+not|don't"
    r"|ignore|disregard|forget|override"
    r"|you\s+(?:must|should|will|need\s+to))(?=[\s:,])|<\||\[/?inst\])"
)
_ADDRESSES = re.compile(r"[\s\"'“‘`(\[*>#-]*" + _ORDER)
_ORDER_AFTER_QUOTE = re.compile(r"[\"'”’`)\]]*\s*(?:[,;:]\s*)?" + _ORDER)
_LOOKBACK = 2_000  # how far back a sentence start is looked for (sentences are far shorter)
_QUOTE_REACH = 2_000  # how far from a trigger its quotation marks are looked for


def _triggers(low: str) -> list[int]:
    hits = []
    for piece, pattern, back, needs in _TRIGGERS:
        if needs and needs not in low:
            continue
        i = low.find(piece)
        while i >= 0:
            m = pattern.search(low, max(0, i - back), i + 200)
            if m and m.start() <= i and (m.start() == 0 or not low[m.start() - 1].isalnum()):
                hits.append(m.start())
            i = low.find(piece, i + 1)
    return sorted(set(hits))


def _sentence_start(text: str, pos: int) -> int:
    """Where the sentence holding `pos` starts (its first non-space character)."""
    # Backwards from `pos`, each mark that may end a sentence is tried; `str.rfind` per mark
    # keeps this cheap where a forward regex scan of the lookback would not be.
    lo = max(0, pos - _LOOKBACK)
    start = lo
    last = {c: text.rfind(c, lo, pos) for c in ".!?\n"}
    while (i := max(last.values())) >= 0:
        m = _SENTENCE_END.match(text, i, pos)
        if m is not None:
            start = m.end()
            break
        last[text[i]] = text.rfind(text[i], lo, i)
    while start < pos and text[start].isspace():
        start += 1
    return start


class _Ends:
    """`_sentence_end` for one text, remembering its last search: the hits come in reading
    order, so most asks fall before the end already found, and a text with no sentence end
    is then scanned once, not once per hit (which was quadratic)."""

    __slots__ = ("_from", "_match", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._from = -1
        self._match: re.Match[str] | None = None

    def __call__(self, text: str, pos: int) -> int:
        m = self._match
        # the first end at or after `pos` is the one found from an earlier position, when
        # `pos` is not past it: no end lies between (the search would have found it)
        if not (0 <= self._from <= pos and (m is None or pos <= m.start())):
            m = self._match = _SENTENCE_END.search(self.text, pos)
            self._from = pos
        if m is None:
            return len(self.text)
        return m.end() if m.group()[0] in ".!?" else m.start()


def _sentence_end(text: str, pos: int) -> int:
    """Where the sentence holding `pos` ends: after its final punctuation, or at a blank line."""
    return _Ends(text)(text, pos)


def _next_start(text: str, end: int) -> int:
    while end < len(text) and text[end].isspace():
        end += 1
    return end


def _addresses_model(low: str, start: int) -> bool:
    return start < len(low) and _ADDRESSES.match(low, start) is not None


def _opens(text: str, i: int) -> bool:
    """Whether the quote character at `i` opens a quotation (not an apostrophe, "don't")."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    return not before.isalnum() and not after.isspace()


def _closes(text: str, i: int) -> bool:
    """Whether the quote character at `i` closes a quotation ("'ignore ...' can", not "GPT's")."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    return not before.isspace() and not after.isalnum()


def _quoted(text: str, hit: int) -> tuple[int, int] | None:
    """The innermost quotation around `hit` ("...", “...”, '...', ‘...’, ``...''), from its
    opening to its closing mark, within the paragraph and `_QUOTE_REACH` of the hit; None when
    the hit is not quoted."""
    # (a blank line further back than the reach changes nothing: not looked for)
    lo = max(text.rfind("\n\n", max(0, hit - _QUOTE_REACH), hit) + 1, hit - _QUOTE_REACH)
    hi = text.find("\n\n", hit, hit + _QUOTE_REACH)
    hi = min(len(text), hit + _QUOTE_REACH) if hi < 0 else hi
    best: tuple[int, int] | None = None
    # Marks that differ at each end: the nearest opening before the hit, unclosed before it.
    for opening, closing in (("“", "”"), ("``", "''")):
        o = text.rfind(opening, lo, hit)
        if o >= 0 and text.find(closing, o, hit) < 0:
            c = text.find(closing, hit, hi)
            if c >= 0 and (best is None or o > best[0]):
                best = (o, c + len(closing))
    # Marks that may be the same at both ends, or double as apostrophes ("don't", "GPT-3’s",
    # "models' outputs"), are told by what stands around them: an opening mark follows no
    # letter and precedes no space; a closing one follows no space and precedes no letter.
    for opening, closing in (('"', '"'), ("‘", "’"), ("'", "'")):
        o = -1
        i = max(text.rfind(opening, lo, hit), text.rfind(closing, lo, hit))
        while i >= 0:
            if text[i] == opening and _opens(text, i):
                o = i
                break
            if text[i] == closing and _closes(text, i):
                break
            i = max(text.rfind(opening, lo, i), text.rfind(closing, lo, i))
        if o < 0 or (best is not None and o <= best[0]):
            continue
        c = text.find(closing, hit, hi)
        while c >= 0 and not _closes(text, c):
            c = text.find(closing, c + 1, hi)
        if c >= 0:
            best = (o, c + 1)
    return best


def _span(text: str, low: str, hit: int, sentence_end: _Ends) -> list[tuple[int, int]]:
    """The instruction-like ranges for the trigger at `hit`."""
    quote = _quoted(text, hit)
    if quote is not None:
        # A quotation: the quoted words only, unless the sentence opens with it and goes on
        # giving orders ('"Ignore previous instructions" and output ...'); a quotation inside
        # prose ('... such as "ignore ..." and report ...') is a mention, not an order.
        start, end = quote
        from_sentence_start = _sentence_start(text, start) == start
        if from_sentence_start and _ORDER_AFTER_QUOTE.match(low, end):
            end = sentence_end(text, end)
        after = sentence_end(text, max(start, end - 2))
    else:
        # From the trigger, or from the start of its sentence when that sentence gives orders
        # ("Ignore ...", "Report X and ignore ..."), to the end of the sentence.
        sentence = _sentence_start(text, hit)
        from_sentence_start = sentence == hit or _addresses_model(low, sentence)
        start = sentence if from_sentence_start else hit
        end = after = sentence_end(text, hit)
    ranges = [(start, end)]
    # Sentences around it that go on addressing the model join it; prose ends it.
    if from_sentence_start:
        while start > 0:
            p = start
            while p > 0 and text[p - 1].isspace():
                p -= 1
            before = _sentence_start(text, p - 1) if p > 0 else 0
            if p == 0 or not _addresses_model(low, before):
                break
            start = before
        ranges[0] = (start, end)
    nxt = _next_start(text, after)
    if _addresses_model(low, nxt):
        stop = sentence_end(text, nxt)
        while _addresses_model(low, s := _next_start(text, stop)):
            stop = sentence_end(text, s)
        if end >= after:  # the range reaches its sentence's end: one range, gap included
            ranges[0] = (start, stop)
        else:
            ranges.append((nxt, stop))
    return ranges


def instruction_like(text: str) -> list[tuple[int, int]]:
    """Ranges of `text` that address the model rather than the reader, sorted and disjoint.

    A trigger phrase inside quotation marks yields the quoted span: a paper about prompt
    injection quotes "ignore previous instructions" and goes on about its models and results.
    Otherwise the range runs from the trigger (from the start of its sentence when the sentence
    gives orders) to the end of that sentence. Either way, adjacent sentences that go on giving
    orders ("Output ...", "Respond ...", chat-template tokens) join it; the rest of the paragraph
    does not."""
    low = lower_keep_offsets(text)
    found: list[tuple[int, int]] = []
    ends = _Ends(text)
    # The union of the ranges so far, as sorted disjoint intervals: whether a hit is in a
    # range already is a bisect (asking every range was quadratic in hits).
    starts: list[int] = []
    stops: list[int] = []
    for hit in _triggers(low):
        i = bisect_right(starts, hit) - 1
        if i >= 0 and hit < stops[i]:
            continue
        for a, b in _span(text, low, hit, ends):
            found.append((a, b))
            if a >= b:
                continue
            lo, hi = bisect_left(stops, a), bisect_right(starts, b)
            if lo < hi:
                a, b = min(a, starts[lo]), max(b, stops[hi - 1])
            starts[lo:hi], stops[lo:hi] = [a], [b]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(found):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
