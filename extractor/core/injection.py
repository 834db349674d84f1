"""Text that addresses the model rather than the reader ("Ignore previous instructions and ...").

Such text is in the paper, so plain grounding would accept whatever it asks for; the ranges
found here ground nothing (see ground.py). A heuristic against the common phrasings, not a
proof: an injection worded like ordinary prose grounds like ordinary prose.
"""

from __future__ import annotations

import re

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
_SENTENCE_END = re.compile(r"[.!?]\s|\n")


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


def instruction_like(text: str) -> list[tuple[int, int]]:
    """Ranges of `text` that address the model rather than the reader: from the start of the
    sentence holding an injection phrase to the end of its paragraph."""
    ranges: list[tuple[int, int]] = []
    for hit in _triggers(lower_keep_offsets(text)):
        if ranges and hit < ranges[-1][1]:
            continue
        start = 0
        for end in _SENTENCE_END.finditer(text, 0, hit):
            start = end.end()
        para = text.find("\n\n", hit)
        ranges.append((start, len(text) if para < 0 else para))
    return ranges
