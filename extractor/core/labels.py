"""Rules that label a mined number: is it a result, a gain (delta), and of what.

A 1.5B model judged these worse than plain rules (issue 8), so the rules are a strategy of
their own, not a fallback. Each rule reads only the number's own clause and sentence, in the
words of GUIDELINES.md: a unit-bearing number that is not a count is a result; "by 2.1%",
"a 3% improvement", "+4.6", "3x faster" are gains; "from 54% to 76%", "only 50% of the FLOPs",
"achieves 85.3%" are levels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from extractor.core.attribution import Attribution, attribute
from extractor.core.metrics import find_metrics, metric_at
from extractor.core.numbers import Number

# Units that measure performance or cost. A time is a result only when it is a cost ("trained
# in 1 hour"), not the length of data ("100 hours of video").
_RESULT_UNITS = frozenset({"%", "points", "x", "FPS", "dB", "tokens/s", "it/s", "bits/char"})
_TIME_UNITS = frozenset({"ms", "seconds", "minutes", "hours", "days"})

_W = r"(?:\s+\S+){0,4}?"  # up to four words between a cue and the number
_GAIN_BEFORE = re.compile(
    r"(?:\bby(?:\s+(?:an?|the|up\s+to|over|about|around|approximately|nearly|roughly|"
    r"almost|more\s+than|at\s+least|average|averaged|absolute|relative|margin|of|on)\b)*"
    r"(?:\s+\w+){0,2}?\s*(?:of\s+)?"
    r"|\b(?:improvements?|gains?|boosts?|increases?|reductions?|decreases?|gap|margin|"
    r"speed-?ups?|drops?|advantage)\b" + _W + r"\s+(?:of|by)(?:\s+(?:up\s+to|over|about|"
    r"around|approximately|nearly|roughly|almost|more\s+than|at\s+least))?\s*)$",
    re.IGNORECASE,
)
_GAIN_AFTER = re.compile(
    r"^\s*(?:\(\w+\)\s*)?(?:[\w-]+\s+){0,3}?(?:improvements?|gains?|boosts?|increases?|"
    r"reductions?|decreases?|drops?|faster|slower|fewer|smaller|larger|bigger|less|more|"
    r"higher|lower|better|longer|shorter|speed-?ups?|relative|absolute|cheaper|savings?|"
    r"gaps?)\b",
    re.IGNORECASE,
)
# "gives up to 2.4% over currently used concatenation": measured against a baseline
_OVER_BASELINE = re.compile(
    r"^\s*(?:\([^)]*\)\s*)?(?:over|above)\s+(?:the\s+)?(?:current|currently|previous|prior|"
    r"existing|state|baselines?|best|strong|standard|conventional|competing|vanilla|other)\b",
    re.IGNORECASE,
)
# "significant reductions in training (up to 15 times)": a gain named, its size in brackets
_GAIN_WORD = re.compile(
    r"\b(?:improvements?|improv\w+|gains?|reductions?|reduc\w+|speed-?ups?|boosts?|"
    r"increases?|decreases?|gaps?|outperform\w*)\b",
    re.IGNORECASE,
)
_FROM_TO = re.compile(r"\bfrom\s+\S+\s+(?:down\s+|up\s+)?to\s+\S*$|\bfrom\s*$", re.IGNORECASE)
_LEVEL_BEFORE = re.compile(
    r"\b(?:only|to|reach(?:es|ed|ing)?|achiev(?:es|ed|ing|e)|attain(?:s|ed|ing)?|"
    r"obtain(?:s|ed|ing)?|scor(?:es|ed|ing|e))(?:\s+(?:an?|the|up\s+to|over|about|"
    r"approximately|nearly|average|of))*\s*$",
    re.IGNORECASE,
)
_HARDWARE_AFTER = re.compile(
    r"\s*(?:NVIDIA\s+)?(?:[A-Z]\d{2,4}\b|GPUs?\b|TPUs?\b|nodes?\b|cards?\b|machines?\b|cores?\b)"
)
# A share of the data a setup uses; a share of a resource ("15% of the FLOPs", "99% of the
# parameters", "10% of the visual tokens") is a cost, and stays a result.
_SHARE_OF_DATA = re.compile(
    r"\s*of\s+(?:the\s+|all\s+|its\s+|our\s+)?(?:training\s+|labell?ed\s+|unlabell?ed\s+|"
    r"input\s+|image\s+|video\s+)?(?:data|dataset|patch(?:es)?|samples?|images?|examples?|"
    r"words?|sentences?|documents?|pixels?|frames?|videos?|annotations?|labels?|corpus|"
    r"queries|questions|users|participants|respondents)\b",
    re.IGNORECASE,
)
_COUNT_CONTEXT = re.compile(r"\b(?:of\s+which|out\s+of)\b", re.IGNORECASE)
_DATA_LENGTH_AFTER = re.compile(r"^\s*(?:of|in\s+total|long)\b", re.IGNORECASE)
_DATA_LENGTH_BEFORE = re.compile(
    r"\b(?:ranging\s+from|total\s+of|containing|comprising|contains|comprises|spanning|"
    r"lasting|duration|durations|length|lengths)\b(?:\s+\S+){0,2}\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RuleLabel:
    result: bool
    delta: bool
    benchmark: str | None
    metric: str | None
    model: str | None


def _words_after(text: str, n: Number, k: int = 3) -> str:
    return " ".join(text[n.end : n.end + 60].split()[:k])


def is_result(text: str, n: Number, sentence: str, names_a_metric: bool | None = None) -> bool:
    """A unit-bearing number that is not a count or a length of data; a bare number only
    when a metric names it ("25.9 BLEU") or it is signed ("+4.6 on MLVU")."""
    before = text[max(0, n.start - 60) : n.start]
    after = text[n.end : n.end + 40]
    if _COUNT_CONTEXT.search(before[-30:]):
        return False
    if n.unit == "x" and _HARDWARE_AFTER.match(after):
        return False  # "8x A100 GPUs": how many, not how much faster
    if n.unit == "%" and _SHARE_OF_DATA.match(after) and not _GAIN_BEFORE.search(before):
        return False  # "masks 75% of the patches", "60% of the data is English": a setup
    if n.unit in _RESULT_UNITS:
        return True
    if n.unit in _TIME_UNITS:
        return not (_DATA_LENGTH_AFTER.search(after) or _DATA_LENGTH_BEFORE.search(before))
    if n.unit is not None:  # memory and the like: a cost when the text says so
        return _names_a_metric(sentence, names_a_metric) or bool(_GAIN_AFTER.search(after))
    if n.written[:1] in "+-−":
        return True
    if metric_at(after):  # "25.9 BLEU", "93.8 F 1", "75.72 (F 0.5)"
        return True
    return "." in n.written and _names_a_metric(sentence, names_a_metric)


def _names_a_metric(sentence: str, known: bool | None) -> bool:
    return bool(find_metrics(sentence)) if known is None else known


def is_delta(text: str, n: Number) -> bool:
    before = text[max(0, n.start - 80) : n.start]
    after = text[n.end : n.end + 80]
    # "from 54% to 76%": two levels (a signed "+1.4 to +4.2" stays a gain, and so does
    # "by 9% to 13%")
    gain_before = bool(_GAIN_BEFORE.search(before))
    from_to = _FROM_TO.search(before) or (re.match(r"\s*to\s+[+\-]?\d", after) and not gain_before)
    if from_to and n.written[:1] != "+":
        return False
    if n.written[:1] in "+" or gain_before:
        return True
    if _GAIN_AFTER.search(after):
        # "80%, higher than X": a level compared; "5% higher than X": a gain
        return not re.match(r"\s*,\s*(?:more|less|higher|lower|better)\s+than\b", after)
    if _OVER_BASELINE.match(after):
        return True
    if _in_brackets_after_gain(text, n):
        return True
    if n.unit == "x":
        return not _LEVEL_BEFORE.search(before)
    return False


def _in_brackets_after_gain(text: str, n: Number) -> bool:
    """ "accuracy improvements for supertagging (up to 1.9%)", "a gap in performance (20%
    F1)": the number in brackets is the size of the gain named just before them."""
    lo = max(n.sentence[0], n.start - 20)
    opened = text.rfind("(", lo, n.start)
    if opened < 0 or ")" in text[opened : n.start]:
        return False
    if not re.fullmatch(
        r"\(\s*(?:up\s+to|about|around|nearly|almost|over|~)?\s*", text[opened : n.start]
    ):
        return False
    return bool(_GAIN_WORD.search(text, max(n.sentence[0], opened - 100), opened))


def label(
    text: str,
    n: Number,
    benchmarks: Sequence[str] = (),
    models: Sequence[str] = (),
    proposed: str | None = None,
) -> RuleLabel:
    """The rules' verdict on one number of `text` (its field's text), read alone."""
    return _labelled(text, n, attribute(text, [n], benchmarks, models, proposed)[0])


def _labelled(
    text: str, n: Number, a: Attribution, names_a_metric: bool | None = None
) -> RuleLabel:
    s_lo, s_hi = n.sentence
    return RuleLabel(
        result=is_result(text, n, text[s_lo:s_hi], names_a_metric),
        delta=is_delta(text, n),
        benchmark=a.benchmark,
        metric=a.metric,
        model=a.model,
    )


_JOIN = re.compile(r"\s*(?:-|–|—|−|~|(?:down\s+|up\s+)?to|and|or|,)\s*(?:\+)?\s*")
_TIMES = frozenset({"ms", "seconds", "minutes", "hours", "days"})


def label_all(
    texts: dict[str, str],
    numbers: Sequence[Number],
    benchmarks: Sequence[str] = (),
    models: Sequence[str] = (),
    proposed: str | None = None,
) -> list[RuleLabel]:
    """`label` for each number, read with the numbers around it (core/attribution.py), then
    the two ends of a range or a pair ("5-8% improvement", "by 35% and 99.947%", "from 11
    seconds to 1 hour") agree: both are results only if both are, and both are gains if
    either is (a "from ... to ..." pair stays two levels)."""
    attributions: dict[str, Attribution] = {}
    for field in ("title", "abstract"):
        mine = [n for n in numbers if n.field == field]
        if mine:
            found = attribute(texts[field], mine, benchmarks, models, proposed)
            attributions.update((n.id, a) for n, a in zip(mine, found, strict=True))
    # whether each sentence names a metric, found once (a sentence can hold many numbers)
    metric_in: dict[tuple[str, tuple[int, int]], bool] = {}
    for n in numbers:
        key = (n.field, n.sentence)
        if key not in metric_in:
            metric_in[key] = bool(find_metrics(texts[n.field], *n.sentence))
    labels = [
        _labelled(texts[n.field], n, attributions[n.id], metric_in[(n.field, n.sentence)])
        for n in numbers
    ]
    for i in range(len(numbers) - 1):
        a, b = numbers[i], numbers[i + 1]
        if a.field != b.field or (a.unit != b.unit and not {a.unit, b.unit} <= _TIMES):
            continue
        text = texts[a.field]
        if not _JOIN.fullmatch(text[a.end : b.start]):
            continue
        la, lb = labels[i], labels[i + 1]
        result = la.result and lb.result
        from_to = bool(_FROM_TO.search(text[max(0, a.start - 40) : b.start]))
        delta = (la.delta or lb.delta) and not from_to
        # "from 35.9% to 59.4%": the first is where a baseline stood, not what the subject
        # reached.
        labels[i] = RuleLabel(
            result,
            delta,
            la.benchmark or lb.benchmark,
            la.metric or lb.metric,
            None if from_to and not delta else la.model or lb.model,
        )
        labels[i + 1] = RuleLabel(
            result,
            delta,
            lb.benchmark or la.benchmark,
            # "execution accuracy from 35.9% to 59.4%": what the first end measures, both do
            (la.metric or lb.metric) if from_to else (lb.metric or la.metric),
            lb.model or la.model,
        )
    _gains_in_a_list(texts, numbers, labels)
    _metrics_in_a_list(texts, numbers, labels)
    return labels


# "absolute improvements of 8.9% on X, 5.7% on Y, and 1.5% on Z", "by 1.1 F1 in domain and up
# to 4.5 F1 out of domain": the items after a gain, written the same way, are gains too.
_NEXT_ITEM = re.compile(r"(?:,|\band)\s*(?:and\s+)?(?:up\s+to\s+|about\s+|nearly\s+|over\s+)?$")


def _next_items(
    texts: dict[str, str], numbers: Sequence[Number]
) -> Iterator[tuple[int, Number, Number, str]]:
    """Each number that follows another as the next item of a list written the same way:
    the same sentence and unit, a comma or "and" between, the words after each beginning
    alike ("8.9% on X, 5.7% on Y"; "1.1 F1 in domain and up to 4.5 F1 out"). Yields the
    second's index, both numbers and the first word after them."""
    for i in range(1, len(numbers)):
        a, b = numbers[i - 1], numbers[i]
        if a.field != b.field or a.sentence != b.sentence or a.unit != b.unit:
            continue
        text = texts[a.field]
        between = text[a.end : b.start]
        if not _NEXT_ITEM.search(between) or len(between) > 80 or _FROM_TO.search(between):
            continue
        head_a = text[a.end : a.end + 20].split()[:1]
        if head_a and head_a == text[b.end : b.end + 20].split()[:1]:
            yield i, a, b, head_a[0]


def _gains_in_a_list(
    texts: dict[str, str], numbers: Sequence[Number], labels: list[RuleLabel]
) -> None:
    for i, _a, b, _head in _next_items(texts, numbers):
        la, lb = labels[i - 1], labels[i]
        if not (la.delta and la.result and lb.result) or lb.delta:
            continue
        text = texts[b.field]
        lead = re.sub(r"\bup\s+to\s*$", "", text[max(0, b.start - 30) : b.start])
        if not _LEVEL_BEFORE.search(lead):
            labels[i] = RuleLabel(lb.result, True, lb.benchmark, lb.metric, lb.model)


def _metrics_in_a_list(
    texts: dict[str, str], numbers: Sequence[Number], labels: list[RuleLabel]
) -> None:
    """ "an F1 score of 91.62 on CoNLL-2003 and 86.28 on OntoNotes": the second item, naming
    no metric of its own, measures what the first does."""
    for i, _a, _b, head in _next_items(texts, numbers):
        la, lb = labels[i - 1], labels[i]
        if la.metric is None or lb.metric is not None or not (la.result and lb.result):
            continue
        if head in ("on", "in", "for", "at"):
            labels[i] = RuleLabel(lb.result, lb.delta, lb.benchmark, la.metric, lb.model)


# --- who decides what: the rules, the model, or both --------------------------------------------

SELECT = ("rule", "model", "both", "either")
DECIDE = ("rule", "model")


@dataclass(frozen=True, slots=True)
class LabelPolicy:
    """Which numbers become results (`select`), who says gain or level (`delta`), and who names
    the benchmark, metric and model (`attrs`; the other one fills in where the first says
    nothing). `both`/`either`: the rules' and the model's choices intersected / united."""

    select: str = "rule"
    delta: str = "rule"
    attrs: str = "model"
    roles: str = "rule"  # rule: a plainly stated role (core/roles.py) overrides the model's
    kinds: str = "rule"  # rule: a link's host decides its kind where it can (urls.infer_kind)

    @classmethod
    def parse(cls, spec: str) -> LabelPolicy:
        """ "rule", "model", or "select=either,delta=rule,attrs=model" (omitted keys default)."""
        spec = spec.strip()
        if spec in ("rule", "model"):
            return cls(spec, spec, spec, spec, spec)
        fields: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            allowed = SELECT if key == "select" else DECIDE
            if key not in ("select", "delta", "attrs", "roles", "kinds") or value not in allowed:
                raise ValueError(
                    f"bad label policy {part!r}: use rule, model, or select=rule|model|both|either,"
                    "delta=rule|model,attrs=rule|model,roles=rule|model,kinds=rule|model"
                )
            fields[key] = value
        return cls(**fields)

    def __str__(self) -> str:
        return (
            f"select={self.select},delta={self.delta},attrs={self.attrs},roles={self.roles},"
            f"kinds={self.kinds}"
        )
