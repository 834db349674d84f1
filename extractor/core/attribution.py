"""Which benchmark, metric and model a reported number belongs to, read from the sentence.

Text ties a number to its names in a few ways, and each is read here, the strongest first:

- words written next to it: "93.55 F1", "an F1-score of 40.78", "1.27 bits/char on text8",
  "a 19.1% boost in action accuracy";
- "respectively" and parallel lists: "GPT-4 and FooNet reach 86.4% and 80.1%", "UAS and LAS
  are 95.9% and 94.1%", "on PTB and WikiText-2 to 47.69 and 40.68 respectively";
- the sentence's subject: "ICAL improves ... by 12.6%"; "our model", "our parser", "the
  proposed method", "we" name the paper's proposed model when it names exactly one. Names
  the number is compared against ("outperforms X", "than X", "as X") never hold it;
- a benchmark or metric named earlier in the sentence ("On MMLU, ... 86.4%"), and a result
  sentence that names no benchmark goes on with the benchmark of the result just before it
  ("We further improve these results to 29.8 BLEU").

Nothing is credited from outside the text: a number whose sentence names no model, and no
"our ..." subject, keeps no model.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from extractor.core.align import word_spans
from extractor.core.metrics import Mention, find_metrics
from extractor.core.numbers import Number


@dataclass(frozen=True, slots=True)
class Attribution:
    benchmark: str | None
    metric: str | None
    model: str | None


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    name: str | None  # None: a generic subject with no proposed model to stand for


# --- cues ---------------------------------------------------------------------------------------

# Between a number and the metric written after it: units, "points", gain words, "in"/"of".
_GAP_RIGHT = re.compile(
    r"\s*(?:\(?(?:absolute|relative|abs\.)\)?\s*)?"
    r"(?:(?:percentage\s+)?(?:points?|pts|pp)\s+)?"
    r"(?:(?:absolute|relative|average|overall|mean|higher|lower|better|worse|fewer|less|"
    r"more|improvements?|gains?|boosts?|increases?|reductions?|decreases?|drops?|"
    r"degradations?|of|in|on|the|an?|its|their)\s+){0,4}",
    re.IGNORECASE,
)
# Between a metric and the number written after it: "of", "is", ":", "=", "by", "from".
_GAP_LEFT = re.compile(
    r"(?:\s*(?:[:=(]|of|is|was|are|were|at|by|to|from|reaches|reached|reaching|achieves|"
    r"achieved|of\s+about|about|around|approximately|nearly|roughly|up\s+to|over|"
    r"(?:an?\s+)?average\s+of|(?:an?\s+)?(?:absolute\s+|relative\s+)?(?:improvements?|gains?|"
    r"boosts?|increases?|reductions?|decreases?|drops?)(?:\s+of)?|than|only|just))*\s*",
    re.IGNORECASE,
)
_ON = r"(?:on|in|for|over|across|at|of|from)"
_BENCH_GAP_RIGHT = re.compile(
    r"[^;]{0,100}?\b" + _ON + r"\s+(?:the\s+)?(?:[\w-]+\s+){0,4}?(?:\(\s*)?$",
    re.IGNORECASE,
)
_CONTRAST = re.compile(r"\b(?:while|whereas|but|compared|versus|vs)\b|,\s*and\b", re.I)
_TRAINED_BEFORE = re.compile(
    r"\b(?:train(?:ed|ing)?|pre-?train(?:ed|ing)?)\s+on\s+(?:the\s+)?(?:[\w-]+\s+){0,3}$",
    re.IGNORECASE,
)
_TRAINING = re.compile(r"\b(?:train(?:ed|ing)?|pre-?train(?:ed|ing)?)\s+on\b", re.IGNORECASE)
# Before a model name: it is what the number is measured against, or a part, not its holder.
_NOT_HOLDER = re.compile(
    r"\b(?:than|over|outperform\w*|surpass\w*|beat\w*|exceed\w*|compared\s+(?:to|with)|"
    r"comparison\s+(?:to|with)|relative\s+to|versus|vs\.?|against|as|like|such\s+as|e\.g\.,?|"
    r"including|baselines?|base-lines?|built\s+(?:up)?on|based\s+on|on\s+top\s+of|us(?:e|es|ed|ing)|"
    r"with|from|upon|of|to|and|rival\w*|match\w*)\s+(?:the\s+|a\s+|an\s+|strong\s+|"
    r"previous\s+|existing\s+|prior\s+)*(?:[\w-]+\s+)?$",
    re.IGNORECASE,
)
_HEADS = (
    r"(?:models?|approach(?:es)?|methods?|systems?|parsers?|frameworks?|networks?|"
    r"architectures?|taggers?|agents?|algorithms?|techniques?|solutions?|cells?|pipelines?|"
    r"ensembles?|strateg(?:y|ies)|designs?|variants?|modules?|mechanisms?)"
)
# The subjects that stand for the paper's own model: "our model", "our hierarchical fusion
# gives", "the proposed method", "this approach", "the model", "we", "it achieves".
_OUR = re.compile(
    r"\b(?:(?:our|the\s+proposed)(?:\s+[\w-]+){1,3}?(?=\s+(?:\w+s|is|was|has|can|also)\b)"
    r"|(?:our|the\s+proposed|this)\s+(?:[\w-]+\s+){0,2}?" + _HEADS + r"|the\s+" + _HEADS + r""
    r"|we|it(?=\s+(?:also\s+)?(?:achieves|improves|outperforms|reaches|obtains|yields|gives|"
    r"reduces|surpasses|attains|sets|scores)\b))\b",
    re.IGNORECASE,
)
# Units that say what they measure: time, memory, a factor.
_OWN_MEASURE = frozenset(
    {"ms", "seconds", "minutes", "hours", "days", "x", "GB", "MB", "KB", "TB", "GiB", "MiB"}
)
_RESPECTIVELY = re.compile(r"\brespectively\b", re.IGNORECASE)
_LIST_JOIN = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|and\s+|or\s+|/\s*|&\s*)\s*", re.IGNORECASE)
_NUMBER_JOIN = re.compile(r"\s*(?:,\s*(?:and\s+)?|and\s+|/\s*)\s*(?:\+|up\s+to\s+)?", re.IGNORECASE)


def _mentions(names: Sequence[str], text: str, lo: int, hi: int) -> list[_Span]:
    out = [_Span(s, e, n) for n in names if n for s, e in word_spans(text, n, lo, hi)]
    out.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Span] = []
    for m in out:  # a name inside a longer one ("VQA" in "VQA v2") is the longer one
        if kept and m.start < kept[-1].end:
            continue
        kept.append(m)
    return kept


def _groups(spans: Sequence[_Span], text: str) -> list[list[_Span]]:
    """Runs of names written as a list: "A, B and C", "A and B", "A/B"."""
    groups: list[list[_Span]] = []
    for s in spans:
        if groups and _LIST_JOIN.fullmatch(text[groups[-1][-1].end : s.start]):
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


# --- the reader ---------------------------------------------------------------------------------


class _Sentence:
    """One sentence's names, found once for all its numbers."""

    def __init__(
        self,
        text: str,
        lo: int,
        hi: int,
        numbers: Sequence[Number],
        benchmarks: Sequence[str],
        models: Sequence[str],
        proposed: str | None,
    ) -> None:
        self.text, self.lo, self.hi = text, lo, hi
        self.numbers = numbers
        named = [
            b for b in _mentions(benchmarks, text, lo, hi) if not self._inside_model(b, models)
        ]
        self.benchmarks = [b for b in named if not self._trained_on(b)]
        self.trained = [b for b in named if self._trained_on(b)]
        self.metrics: list[Mention] = [
            m for m in find_metrics(text, lo, hi) if not self._overlaps_name(m)
        ]
        self.metric_starts = [m.start for m in self.metrics]
        self.metric_ends = [m.end for m in self.metrics]
        named = _mentions(models, text, lo, hi)
        generic = [
            _Span(m.start(), m.end(), proposed)
            for m in _OUR.finditer(text, lo, hi)
            if not any(n.start <= m.start() < n.end for n in named)
        ]
        self.holders = sorted([m for m in named if self._holds(m)] + generic, key=lambda s: s.start)
        self.models = named
        self.respectively = bool(_RESPECTIVELY.search(text, lo, hi))
        self.index = {m.id: i for i, m in enumerate(numbers)}
        self.starts = [m.start for m in numbers]
        self.claimed: dict[tuple[int, int], str] | None = None
        self.number_groups = self._number_groups()
        self.goes_on: bool | None = None  # whether it goes on with the last benchmark

    def _trained_on(self, b: _Span) -> bool:
        # "by training on the much larger Paracrawl dataset": data to learn from, not to score on
        return bool(_TRAINED_BEFORE.search(self.text, max(self.lo, b.start - 40), b.start))

    def _inside_model(self, b: _Span, models: Sequence[str]) -> bool:
        # "VQA" inside the model name "VQA-Net" is no benchmark mention
        return any(
            s <= b.start and b.end <= e
            for m in models
            for s, e in word_spans(
                self.text, m, max(self.lo, b.start - len(m)), min(self.hi, b.end + len(m))
            )
            if (e - s) > (b.end - b.start)
        )

    def _overlaps_name(self, m: Mention) -> bool:
        return any(b.start < m.end and m.start < b.end for b in self.benchmarks)

    def _holds(self, m: _Span) -> bool:
        before = self.text[max(self.lo, m.start - 60) : m.start]
        return not _NOT_HOLDER.search(before)

    def _number_groups(self) -> dict[str, tuple[int, int]]:
        """Each number's place in a run written as a list ("86.4% and 80.1%"): (index, size)."""
        out: dict[str, tuple[int, int]] = {}
        run: list[Number] = []
        for n in [*self.numbers, None]:
            if n is not None and run and _NUMBER_JOIN.fullmatch(self.text[run[-1].end : n.start]):
                run.append(n)
                continue
            for i, m in enumerate(run):
                out[m.id] = (i, len(run))
            run = [n] if n is not None else []
        return out

    # -- each attribute --------------------------------------------------------------------

    def _paired(self, n: Number, spans: Sequence[_Span] | Sequence[Mention]) -> int | None:
        """The index in `spans` of the name a list pairs with `n` ("A and B ... x and y")."""
        place = self.number_groups.get(n.id)
        if place is None or place[1] < 2:
            return None
        idx, size = place
        listed = [_Span(s.start, s.end, None) for s in spans]
        run = self._run_start(n)
        # Without "respectively" a list pairs only when it stands before the numbers as their
        # subject ("UAS and LAS are 95.9% and 94.1%"). Of two such lists, the nearer one: "on
        # A and B to 51.1 and 44.3 respectively, and on C and D to 1.19 and 1.08 respectively".
        fitting = [
            g
            for g in _groups(listed, self.text)
            if len(g) == size and (self.respectively or g[-1].end <= n.start)
        ]
        if fitting:
            group = min(
                fitting,
                key=lambda g: abs(run - g[-1].end) if g[-1].end <= run else 10**6 + g[0].start,
            )
            first = next(i for i, s in enumerate(listed) if s is group[0])
            return first + idx
        if self.respectively:
            # "F1 = 83.4 on A and F1 = 82.7 on B, which outperforms ... by 1.8 and 1.0
            # respectively": the last names written before the list, in order
            run = self._run_start(n)
            before = [i for i, s in enumerate(listed) if s.end <= run]
            if len(before) >= size:
                return before[len(before) - size + idx]
        return None

    def _same_list(self, a: Mention, b: Mention) -> bool:
        lo, hi = (a, b) if a.start <= b.start else (b, a)
        inside = [m for m in self.metrics if lo.start <= m.start <= hi.start]
        return all(
            _LIST_JOIN.fullmatch(self.text[x.end : y.start]) for x, y in itertools.pairwise(inside)
        )

    def _run_start(self, n: Number) -> int:
        idx, _ = self.number_groups[n.id]
        return self.numbers[self.index[n.id] - idx].start

    def _claimed(self) -> dict[tuple[int, int], str]:
        """Each metric written next to a number, and that number's id (found once)."""
        if self.claimed is None:
            self.claimed = {}
            for other in self.numbers:
                if (m := self._adjacent_metric(other)) is not None:
                    self.claimed.setdefault((m.start, m.end), other.id)
        return self.claimed

    def _adjacent_metric(self, n: Number) -> Mention | None:
        """The metric written right next to `n`: "93.55 F1", "an F1-score of 40.78"."""
        # mentions do not overlap: sorted by start, they are sorted by end too
        i = bisect_left(self.metric_starts, n.end)
        if i < len(self.metrics) and _GAP_RIGHT.fullmatch(self.text, n.end, self.metrics[i].start):
            return self.metrics[i]
        j = bisect_right(self.metric_ends, n.start) - 1
        if j >= 0 and _GAP_LEFT.fullmatch(self._without_names(self.metrics[j].end, n.start)):
            return self.metrics[j]
        return None

    def metric(self, n: Number) -> Mention | None:
        i = self._paired(n, self.metrics)
        adjacent = self._adjacent_metric(n)
        # "UAS and LAS are 95.9% and 94.1%": LAS stands next to 95.9, but as the list's last
        if i is not None and (
            self.respectively or adjacent is None or self._same_list(adjacent, self.metrics[i])
        ):
            return self.metrics[i]
        if adjacent is not None or n.unit in _OWN_MEASURE:
            # A time, a size or a factor measures itself; a metric further off is another
            # number's ("we match the accuracy of X in under 5 hours").
            return adjacent
        # Further off, a metric is this number's only if no other number has it next to it.
        free = [m for m in self.metrics if self._claimed().get((m.start, m.end), n.id) == n.id]
        lo, hi = n.clause
        inside = [m for m in free if lo <= m.start and m.end <= hi]
        if inside:
            return min(inside, key=lambda m: _distance(n, m.start, m.end))
        before = [m for m in free if m.end <= n.start]
        return before[-1] if before else None

    def _without_names(self, lo: int, hi: int) -> str:
        """The text between two places with benchmark names taken out ("accuracy on GSM8K
        from 61.79": the benchmark does not part the metric from its number)."""
        out, pos = [], lo
        for b in self.benchmarks:
            if lo <= b.start and b.end <= hi:
                out.append(self.text[pos : b.start])
                pos = b.end
        out.append(self.text[pos:hi])
        return re.sub(
            r"\s*\b(?:on|in|for)\s*$|\b(?:on|in|for)\s+(?:the\s+)?(?=\s|$)", " ", "".join(out)
        )

    def benchmark(self, n: Number) -> _Span | None:
        i = self._paired(n, self.benchmarks) if self.respectively else None
        if i is not None:
            return self.benchmarks[i]
        for b in self.benchmarks:
            if b.start < n.end:
                continue
            gap = self.text[n.end : b.start]
            # Numbers between may share it ("95.7% UAS and 94.1% LAS on PTB"), not across a
            # comma ("80% on A, and 85% on B").
            between = bisect_left(self.starts, b.start) > bisect_left(self.starts, n.end)
            if (
                _BENCH_GAP_RIGHT.fullmatch(gap)
                and not _TRAINING.search(gap)
                and not (between and _CONTRAST.search(gap))
            ):
                # "(up to 1.9%) ... on CCGBank, Wikipedia and biomedical text": measured on
                # all of a list, on none of them alone
                group = next(g for g in _groups(self.benchmarks, self.text) if b in g)
                return b if len(group) == 1 or group[0] is not b else None
            break
        i = self._paired(n, self.benchmarks)
        if i is not None:
            return self.benchmarks[i]
        before = [b for b in self.benchmarks if b.end <= n.start]
        if before:
            return before[-1]
        return None

    def model(self, n: Number) -> _Span | None:
        # "GPT-4 and FooNet reach 86.4% and 80.1%": a list of subjects; "the same as DistMult
        # and R-GCN with 8x and 17x fewer parameters" lists what the numbers are compared to.
        i = self._paired(n, self.models)
        if i is not None:
            group = next(g for g in _groups(self.models, self.text) if self.models[i] in g)
            if self._holds(group[0]):
                return self.models[i]
        before = [h for h in self.holders if h.end <= n.start]
        return before[-1] if before else None


def _distance(n: Number, start: int, end: int) -> int:
    return start - n.end if start >= n.end else max(0, n.start - end)


def attribute(
    text: str,
    numbers: Sequence[Number],
    benchmarks: Sequence[str] = (),
    models: Sequence[str] = (),
    proposed: str | None = None,
) -> list[Attribution]:
    """The benchmark, metric and model of each of `numbers` (all of one field of `text`, in
    reading order). `proposed`: the paper's one proposed model, for "our model" and "we"."""
    out: list[Attribution] = []
    cache: dict[tuple[int, int], _Sentence] = {}
    last: tuple[str, _Sentence] | None = None  # the previous benchmark, and its sentence
    for n in numbers:
        s = cache.get(n.sentence)
        if s is None:
            lo, hi = n.sentence
            same = [m for m in numbers if m.sentence == n.sentence]
            s = cache[n.sentence] = _Sentence(text, lo, hi, same, benchmarks, models, proposed)
        metric = s.metric(n)
        bench = s.benchmark(n)
        holder = s.model(n)
        bench_name = bench.name if bench else None
        metric_name = metric.name if metric else None
        if bench_name is None and not s.benchmarks and last is not None:
            # A sentence that names no benchmark goes on with the one of the result just
            # before it, when it measures what that one measured ("We further improve these
            # results to 29.8 BLEU"); a new metric is a new experiment. Its first number
            # decides for the sentence.
            name, before = last
            if s.goes_on is None:
                s.goes_on = len(text[before.hi : s.lo].strip()) <= 1 and (
                    metric_name is None or metric_name in {m.name for m in before.metrics}
                )
            if s.goes_on:
                bench_name = name
        if bench_name is None and (trained := [b for b in s.trained if b.end <= n.start]):
            # "single models trained on the Penn Treebank: 93.55 F1", with nothing else named
            bench_name = trained[-1].name
        if bench_name is not None:
            last = (bench_name, s)
        out.append(Attribution(bench_name, metric_name, holder.name if holder else None))
    return out
