"""align.py: locating strings in a paper's text, and numbers at digit boundaries."""

from __future__ import annotations

import random
import time

import pytest

from extractor.core.align import (
    Match,
    Text,
    best_alignment,
    fold,
    fold_string,
    locate,
    numbers_in,
    value_in_text,
)

TITLE = "LLaVA-1.5: Improved Baselines"
ABSTRACT = (
    "We present LLaVA-1.5, which beats BLIP-2 and RoBERTa on ScienceQA. "
    "It reaches 85.3% accuracy on MMBench, a gain of 10.9\\% over the baseline."
)


def texts(title: str = TITLE, abstract: str = ABSTRACT) -> tuple[Text, Text]:
    return Text("title", title), Text("abstract", abstract)


def at(m: Match | None, title: str = TITLE, abstract: str = ABSTRACT) -> str:
    assert m is not None
    return (title if m.field == "title" else abstract)[m.start : m.end]


def test_exact_prefers_the_first_text_given() -> None:
    m = locate("LLaVA-1.5", texts())
    assert m == Match("title", 0, 9, "exact", 1.0)
    a = locate("LLaVA-1.5", texts()[::-1])
    assert a is not None and a.field == "abstract" and at(a) == "LLaVA-1.5"


def test_exact_beats_normalized_in_a_later_text() -> None:
    # "ScienceQA" folded would also be found in the title if it said "scienceqa"
    t = texts(title="scienceqa results")
    m = locate("ScienceQA", t)
    assert m is not None and m.field == "abstract" and m.match == "exact"


def test_surrounding_whitespace_is_ignored() -> None:
    m = locate("  MMBench \n", texts())
    assert m is not None and m.match == "exact" and at(m) == "MMBench"


def test_case_insensitive() -> None:
    m = locate("mmbench", texts())
    assert m is not None and m.match == "normalized" and at(m) == "MMBench"


def test_whitespace_runs_collapse() -> None:
    abstract = "a gain of\n  10.9%   over the baseline"
    m = locate("gain of 10.9% over", texts(abstract=abstract))
    assert m is not None and m.match == "normalized"
    assert at(m, abstract=abstract) == "gain of\n  10.9%   over"


def test_latex_escapes() -> None:
    m = locate("a gain of 10.9% over the baseline", texts())
    assert m is not None and m.match == "normalized"
    assert at(m) == "a gain of 10.9\\% over the baseline"
    abstract = "Vision \\& Language at 48\\%"
    m = locate("Vision & Language at 48%", texts(abstract=abstract))
    assert m is not None and at(m, abstract=abstract) == abstract
    # and the other way round: the model kept the escape, the text has none
    m = locate("85.3\\% accuracy", texts())
    assert m is not None and at(m) == "85.3% accuracy"


def test_unicode_quotes_dashes_ligatures_accents() -> None:
    abstract = "The “Déjà Vu” model — a ﬁne-tuned encoder – reaches 3× speed-up; ``CLIP'' too."
    t = texts(abstract=abstract)
    for needle, expected in [
        ('"Deja Vu" model', "“Déjà Vu” model"),
        ("fine-tuned", "ﬁne-tuned"),
        ("encoder - reaches", "encoder – reaches"),
        ("3x speed-up", "3× speed-up"),
        ('"CLIP" too', "``CLIP'' too"),
    ]:
        m = locate(needle, t)
        assert m is not None and m.match == "normalized", needle
        assert at(m, abstract=abstract) == expected


def test_offsets_index_the_original_non_ascii_text() -> None:
    abstract = "Ünïcödé prefix 日本語テキスト ß and then ＭＭＢｅｎｃｈ scores 85.3\\% here."
    t = texts(abstract=abstract)
    m = locate("mmbench scores 85.3%", t)
    assert m is not None and at(m, abstract=abstract) == "ＭＭＢｅｎｃｈ scores 85.3\\%"
    m = locate("SS and then", t)  # "ß" folds to two characters, both from one
    assert m is not None and at(m, abstract=abstract) == "ß and then"
    m = locate("日本語", t)
    assert m is not None and m.match == "exact" and at(m, abstract=abstract) == "日本語"


def test_fold_maps_every_folded_character_to_its_source() -> None:
    text = "A\u00adB  “x”\\%ﬁ é \n ``q''"  # soft hyphen, quotes, escape, ligature, accent
    folded = fold(text)
    assert folded.text == 'ab "x"%fi e "q"'
    sources = [folded.source(i, i + 1) for i in range(len(folded.text))]
    assert sources == [
        (0, 1), (2, 3), (3, 5), (5, 6), (6, 7), (7, 8), (8, 10), (10, 11), (10, 11),
        (11, 12), (12, 13), (13, 16), (16, 18), (18, 19), (19, 21),
    ]  # fmt: skip
    decomposed = fold("De\u0301ja\u0300 vu")  # combining accents vanish into their letter
    assert decomposed.text == "deja vu" and decomposed.source(0, 4) == (0, 6)
    assert folded.source(3, 6) == (5, 8)  # '"x"' spans the curly quotes
    assert fold_string("  Hello\tWorld ") == "hello world"


def test_whole_word_rejects_pieces_of_words() -> None:
    assert locate("BERT", texts(), whole_word=True) is None  # only inside "RoBERTa"
    assert locate("BERT", texts()) is not None
    assert locate("LLaVA", texts(), whole_word=True) is not None  # "LLaVA-1.5": "-" ends a word
    # a later occurrence at word boundaries is found
    m = locate("BERT", texts(abstract="RoBERTa and BERT"), whole_word=True)
    assert m is not None and m.start == 12


def test_not_found() -> None:
    assert locate("GPT-5", texts()) is None
    assert locate("", texts()) is None
    assert locate("   ", texts()) is None
    assert locate("99.9% on MMLU", texts(), fuzzy=True) is None


def test_fuzzy_evidence_within_ten_percent() -> None:
    abstract = ABSTRACT + " Our approach consistently outperforms prior state of the art methods."
    evidence = "our approach consistantly outperforms prior state-of-the-art method"
    assert locate(evidence, texts(abstract=abstract)) is None
    m = locate(evidence, texts(abstract=abstract), fuzzy=True)
    assert m is not None and m.match == "fuzzy" and 0.9 <= m.score < 1.0
    assert at(m, abstract=abstract).startswith("Our approach consistently")
    assert at(m, abstract=abstract).endswith("art method")


def test_fuzzy_is_bounded() -> None:
    abstract = "Our approach consistently outperforms prior state of the art methods."
    far = "their method rarely outperforms earlier state of art approaches at all"
    assert locate(far, texts(abstract=abstract), fuzzy=True) is None
    # short strings never match fuzzily: one digit makes another model
    assert locate("LLaVA-1.6", texts(), fuzzy=True) is None


def test_fuzzy_respects_min_score() -> None:
    abstract = "the proposed model improves retrieval accuracy by a wide margin"
    needle = "the proposed model improved retrieval accuracy by wide margins"
    m = locate(needle, texts(abstract=abstract), fuzzy=True, min_score=0.9)
    assert m is not None
    assert locate(needle, texts(abstract=abstract), fuzzy=True, min_score=0.99) is None


def test_best_alignment_against_brute_force() -> None:
    def brute(p: str, t: str) -> int:
        col = list(range(len(p) + 1))
        best = len(p)
        for c in t:
            new = [0]
            for i in range(1, len(p) + 1):
                new.append(min(col[i] + 1, new[i - 1] + 1, col[i - 1] + (p[i - 1] != c)))
            col = new
            best = min(best, col[-1])
        return best

    rng = random.Random(7)
    for _ in range(500):
        p = "".join(rng.choice("abc") for _ in range(rng.randint(1, 10)))
        t = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 16)))
        dist, start, end = best_alignment(p, t)
        assert dist == brute(p, t)
        assert brute(p, t[start:end]) == dist  # the span returned really has that distance


def test_blocked_ranges_are_skipped() -> None:
    abstract = "MMBench is used. Ignore that: MMBench."
    t = Text("abstract", abstract, blocked=[(0, 16)])
    m = locate("MMBench", [t])
    assert m is not None and m.start == abstract.rindex("MMBench")
    t = Text("abstract", abstract, blocked=[(0, len(abstract))])
    assert locate("MMBench", [t]) is None
    assert locate("mmbench", [t]) is None


def test_long_abstract_stays_fast() -> None:
    rng = random.Random(1)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(3000)
    ]
    abstract = " ".join(rng.choice(words) for _ in range(16000))[:100_000]
    clause = abstract[60_000:60_080]
    typo = clause[:10] + "#" + clause[11:40] + clause[41:]  # one substitution, one deletion
    t = texts(abstract=abstract)
    started = time.perf_counter()
    m = locate(typo, t, fuzzy=True)
    missing = locate("completely absent evidence clause about nothing at all here", t, fuzzy=True)
    elapsed = time.perf_counter() - started
    assert m is not None and m.match == "fuzzy" and abs(m.start - 60_000) <= 2
    assert missing is None
    assert elapsed < 0.5, elapsed  # folding 100 KB once, then a few windows: ~50 ms


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        (5.0, "a 5% gain", True),
        (5.0, "a 65% gain", False),
        (5.0, "a 0.5 gain", False),
        (5.0, "a 5.2 gain", False),
        (5.0, "from 5-8%", True),
        (8.0, "from 5-8%", True),
        (76.0, "reaches 76%", True),
        (85.3, "reaches 85.3", True),
        (85.3, "reaches 85.35", False),
        (3.0, "3x faster", True),
        (3.0, "3× faster", True),
        (3.0, "3 times faster", True),
        (1000.0, "1,000 steps", True),
        (1000.0, "1000 steps", True),
        (1.0, "1,000 steps", False),
        (0.853, "85.3%", False),  # scaled by the model: not as written
        (10.9, "10.9\\% better", True),
        (5.0, "ends with 5.", True),
        (5.0, "5.0 points", True),
        (2.1, "drops by -2.1", True),
        (-2.1, "drops by 2.1", True),
        (0.5, "only .5 points", True),
        (3.0, "version 1.2.3", False),
        (4.0, "GPT-4V reaches", True),  # digit boundaries only; letters are units ("3x", "4V")
        (96.88, "up to 96.88% under", True),
        (1e-4, "lr 1e-4", True),
        (5.0, "1e5 samples", False),
    ],
)
def test_value_in_text(value: float, text: str, expected: bool) -> None:
    assert value_in_text(value, text) is expected


def test_numbers_in() -> None:
    assert numbers_in("5-8% 65 0.5 5.2 1,000 .5 1.2.3 3x") == [
        5.0, 8.0, 65.0, 0.5, 5.2, 1000.0, 0.5, 1.2, 3.0,
    ]  # fmt: skip
